-- A redemption's HELD holder (frozen or sanctioned at the date) released later by the issuer's agent,
-- once no longer blocked: its units are then burned and paid as the others' were. One release per
-- holder line, stored under the issuer's idempotency key with who, when and why.
CREATE TABLE redemption_releases (
  issuer_org text NOT NULL,
  idempotency_key text NOT NULL,
  redemption_id text NOT NULL REFERENCES redemptions (id),
  investor_id text NOT NULL REFERENCES investors (id),
  reason text NOT NULL,
  -- The hold it lifted, as it was recorded at the date.
  held_reason text NOT NULL,
  actor text NOT NULL,
  request_hash text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (issuer_org, idempotency_key),
  UNIQUE (redemption_id, investor_id),
  FOREIGN KEY (redemption_id, investor_id) REFERENCES redemption_holders (redemption_id, investor_id)
);
