-- Redemptions: at the redemption date every holding of the token is bought back at a price per unit
-- and burned, the holders paid through the distribution payment path (a distribution of kind
-- REDEMPTION, and a bond's final coupon as a COUPON distribution of the same instant).
-- ANNOUNCED: waiting for its date. BURNING: the token is paused and REDEEMED, the holders at that
-- instant are fixed with what each is owed, the chain's balances are being burned. DONE: the books
-- show every burned wallet empty; the payments are released.
CREATE TABLE redemptions (
  id text PRIMARY KEY,
  token_id text NOT NULL REFERENCES security_tokens (id),
  issuer_org text NOT NULL,
  redemption_at timestamptz NOT NULL,
  -- Cash base units per whole token unit.
  price_per_unit numeric(78,0) NOT NULL CHECK (price_per_unit > 0),
  asset text NOT NULL,
  paying_account_id text NOT NULL,
  coupon_per_unit numeric(78,0) CHECK (coupon_per_unit > 0),
  coupon_total numeric(78,0) CHECK (coupon_total > 0),
  status text NOT NULL DEFAULT 'ANNOUNCED' CHECK (status IN ('ANNOUNCED','BURNING','DONE')),
  -- When the holders were fixed (the books' instant), units bought back, what they are owed.
  fixed_at timestamptz,
  units numeric(78,0),
  gross numeric(78,0),
  unallocated numeric(78,0),
  distribution_id text REFERENCES distributions (id),
  coupon_distribution_id text REFERENCES distributions (id),
  tx_hashes jsonb NOT NULL DEFAULT '[]'::jsonb,
  last_error text,
  done_at timestamptz,
  announced_by text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (issuer_org, idempotency_key),
  -- A token is redeemed once.
  UNIQUE (token_id),
  CHECK (coupon_per_unit IS NULL OR coupon_total IS NULL)
);
CREATE INDEX redemptions_due ON redemptions (redemption_at) WHERE status <> 'DONE';

-- Per holder at the redemption instant: its units, and whether they are bought back (REDEEMED:
-- burned, paid through entitlement_id) or HELD (frozen or sanctioned: neither burned nor paid).
CREATE TABLE redemption_holders (
  redemption_id text NOT NULL REFERENCES redemptions (id),
  investor_id text NOT NULL REFERENCES investors (id),
  units numeric(78,0) NOT NULL CHECK (units > 0),
  gross numeric(78,0) NOT NULL CHECK (gross >= 0),
  status text NOT NULL CHECK (status IN ('REDEEMED','HELD')),
  reason text,
  entitlement_id text REFERENCES entitlements (id),
  PRIMARY KEY (redemption_id, investor_id),
  CHECK (status <> 'HELD' OR reason IS NOT NULL)
);

-- The wallets whose balance is burned to zero.
CREATE TABLE redemption_burns (
  redemption_id text NOT NULL REFERENCES redemptions (id),
  address text NOT NULL,
  investor_id text NOT NULL REFERENCES investors (id),
  before numeric(78,0) NOT NULL CHECK (before > 0),
  PRIMARY KEY (redemption_id, address)
);

ALTER TABLE security_tokens DROP CONSTRAINT security_tokens_status_check;
ALTER TABLE security_tokens ADD CONSTRAINT security_tokens_status_check CHECK (status IN ('DRAFT','DEPLOYED','PAUSED','REDEEMED'));
ALTER TABLE distributions DROP CONSTRAINT distributions_kind_check;
ALTER TABLE distributions ADD CONSTRAINT distributions_kind_check CHECK (kind IN ('DIVIDEND','COUPON','RETURN_OF_CAPITAL','REDEMPTION'));
