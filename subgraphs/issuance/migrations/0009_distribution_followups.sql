-- Distributions, continued: a record date later than the announcement (entitlements fixed once the
-- holdings indexer has passed it), and the issuer's release of a HELD entitlement or retry of a FAILED one.

-- Until its record date has passed on chain, a distribution has no entitlements and no sums:
-- fixed_at is null. A record date nobody held at lapses (lapsed_reason) with no entitlements.
ALTER TABLE distributions ADD COLUMN fixed_at timestamptz;
ALTER TABLE distributions ADD COLUMN lapsed_reason text;
UPDATE distributions SET fixed_at = created_at;
ALTER TABLE distributions ALTER COLUMN units DROP NOT NULL;
ALTER TABLE distributions ALTER COLUMN gross DROP NOT NULL;
ALTER TABLE distributions ALTER COLUMN withheld DROP NOT NULL;
ALTER TABLE distributions ALTER COLUMN net DROP NOT NULL;
ALTER TABLE distributions ADD CONSTRAINT distributions_fixed_sums
  CHECK ((units IS NULL) = (fixed_at IS NULL OR lapsed_reason IS NOT NULL) AND (units IS NULL) = (gross IS NULL)
         AND (gross IS NULL) = (withheld IS NULL) AND (withheld IS NULL) = (net IS NULL) AND (lapsed_reason IS NULL OR fixed_at IS NOT NULL));
CREATE INDEX distributions_awaiting ON distributions (record_date) WHERE fixed_at IS NULL;

-- How far each token's holdings indexer has read the chain: the last block applied and its time.
-- Block times never decrease, so once a block later than a record date is applied, every transfer
-- at or before the record date is in the lots.
CREATE TABLE token_indexed_through (
  token_id text PRIMARY KEY REFERENCES security_tokens (id),
  block bigint NOT NULL CHECK (block >= 0),
  block_time timestamptz NOT NULL
);

-- The issuer's actions on an entitlement (release a HELD one, retry a FAILED one): who, when, why,
-- keyed like every creating request so a replay changes nothing.
CREATE TABLE entitlement_actions (
  issuer_org text NOT NULL,
  idempotency_key text NOT NULL,
  entitlement_id text NOT NULL REFERENCES entitlements (id),
  action text NOT NULL CHECK (action IN ('RELEASE','RETRY')),
  reason text NOT NULL,
  -- The entitlement's status and attempts when the action was taken.
  from_status text NOT NULL,
  attempts integer NOT NULL,
  actor text NOT NULL,
  request_hash text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer_org, idempotency_key)
);
CREATE INDEX entitlement_actions_entitlement ON entitlement_actions (entitlement_id, at);
