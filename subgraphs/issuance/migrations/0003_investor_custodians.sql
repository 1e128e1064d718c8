-- Organisations holding a custody account for an investor (from custody's
-- account.opened events): besides the organisation that registered the
-- investor, they may ask about its transfer eligibility.
CREATE TABLE investor_custodians (
  investor_id text NOT NULL REFERENCES investors (id),
  org text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (investor_id, org)
);
