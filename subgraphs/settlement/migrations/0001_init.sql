CREATE TABLE settlements (
  id text PRIMARY KEY,
  org text NOT NULL,
  token_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('RECEIVED','VERIFIED','REJECTED','SETTLING','SETTLED','FAILED','CANCELLED')),
  quantity numeric(78,0) NOT NULL CHECK (quantity > 0),
  price numeric(38,18) NOT NULL CHECK (price > 0),
  buyer_account_id text NOT NULL,
  seller_account_id text NOT NULL CHECK (seller_account_id <> buyer_account_id),
  venue text NOT NULL,
  venue_reference text NOT NULL,
  trade_time timestamptz NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (venue, venue_reference)
);
CREATE INDEX settlements_org ON settlements (org, created_at);

CREATE TABLE settlement_history (
  settlement_id text NOT NULL REFERENCES settlements (id),
  seq int NOT NULL,
  status text NOT NULL,
  reason text,
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (settlement_id, seq)
);
