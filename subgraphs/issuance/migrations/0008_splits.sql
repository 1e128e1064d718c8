-- Splits and reverse splits: numerator new units per denominator old ones.
-- BOOKS: announced, waiting for its effective date. CHAIN: the lots are
-- scaled and the token paused; the chain's balances are being moved to the
-- targets. DONE: chain and books agree, the token trades again.
CREATE TABLE splits (
  id text PRIMARY KEY,
  token_id text NOT NULL REFERENCES security_tokens (id),
  numerator numeric(78,0) NOT NULL CHECK (numerator > 0),
  denominator numeric(78,0) NOT NULL CHECK (denominator > 0),
  effective_at timestamptz NOT NULL,
  cash_in_lieu_price numeric(78,0) NOT NULL CHECK (cash_in_lieu_price >= 0),
  status text NOT NULL DEFAULT 'ANNOUNCED' CHECK (status IN ('ANNOUNCED','CHAIN','DONE')),
  -- Whether the split paused the token itself (then it unpauses it when done).
  paused_by_split boolean NOT NULL DEFAULT false,
  supply_before numeric(78,0),
  supply_after numeric(78,0),
  tx_hashes jsonb NOT NULL DEFAULT '[]'::jsonb,
  announced_by text NOT NULL,
  org text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  announced_at timestamptz NOT NULL DEFAULT now(),
  applied_at timestamptz,
  done_at timestamptz,
  last_error text,
  UNIQUE (org, idempotency_key)
);
CREATE INDEX splits_due ON splits (effective_at) WHERE status <> 'DONE';
-- One split in progress per token.
CREATE UNIQUE INDEX splits_one_in_progress ON splits (token_id) WHERE status = 'CHAIN';

-- Each wallet's balance before and the balance the chain must reach.
CREATE TABLE split_moves (
  split_id text NOT NULL REFERENCES splits (id),
  address text NOT NULL,
  investor_id text REFERENCES investors (id),
  before numeric(78,0) NOT NULL CHECK (before >= 0),
  target numeric(78,0) NOT NULL CHECK (target >= 0),
  PRIMARY KEY (split_id, address)
);

-- Per holder: units before and after, and the cash owed for the fraction left over.
CREATE TABLE split_holders (
  split_id text NOT NULL REFERENCES splits (id),
  investor_id text NOT NULL REFERENCES investors (id),
  before numeric(78,0) NOT NULL,
  after numeric(78,0) NOT NULL,
  fraction_numerator numeric(78,0) NOT NULL,
  cash_in_lieu numeric(78,0) NOT NULL CHECK (cash_in_lieu >= 0),
  cash_status text NOT NULL CHECK (cash_status IN ('NONE','OWED','PAID')),
  PRIMARY KEY (split_id, investor_id)
);

-- A lot replaced by a split: the new lot keeps the dates; booked_at says from when the books show it.
ALTER TABLE lots ADD COLUMN booked_at timestamptz;
ALTER TABLE lots DROP CONSTRAINT lots_source_check;
ALTER TABLE lots ADD CONSTRAINT lots_source_check CHECK (source IN ('ISSUANCE','TRANSFER','FORCED_TRANSFER','RECOVERY','SPLIT'));
