-- DvP consents custody signed, with what each moves on its account's chain
-- balances (negative: paid, positive: received). While a consent's
-- reservations are still open the settlement is not booked yet: a difference
-- between books and chain that these moves explain is in flight, not a break.
CREATE TABLE dvp_consents (
  batch_id text NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  reservation_ids text[] NOT NULL,
  moves jsonb NOT NULL,
  signed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, account_id)
);
