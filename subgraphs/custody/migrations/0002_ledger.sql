-- Balances ledger. Invariants live here as well as in code: a bug in a
-- service can at worst fail a transaction, never overdraw a balance.

-- What custody can hold: the cash token and security tokens (issuance's tok_ ids).
-- The contract address is known once the token is deployed; withdrawals need it.
CREATE TABLE assets (
  id text PRIMARY KEY CHECK (id = 'CASH' OR id ~ '^tok_[0-9a-z]{26}$'),
  contract_address text CHECK (contract_address ~ '^0x[0-9a-fA-F]{40}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO assets (id) VALUES ('CASH');

CREATE TABLE balances (
  account_id text NOT NULL REFERENCES custody_accounts (id),
  asset text NOT NULL REFERENCES assets (id),
  total numeric(78,0) NOT NULL DEFAULT 0,
  reserved numeric(78,0) NOT NULL DEFAULT 0,
  -- Last balance the chain indexer saw (filled once the indexer exists).
  on_chain numeric(78,0),
  on_chain_block bigint,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, asset),
  CONSTRAINT balances_total_non_negative CHECK (total >= 0),
  CONSTRAINT balances_reserved_non_negative CHECK (reserved >= 0),
  CONSTRAINT balances_reserved_within_total CHECK (reserved <= total)
);
CREATE INDEX balances_holders ON balances (asset, account_id) WHERE total > 0;

-- Idempotency of every ledger operation: one row per (calling service, key),
-- holding the result a replay returns.
CREATE TABLE ledger_operations (
  id text PRIMARY KEY,
  service text NOT NULL,
  idempotency_key text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('CREDIT','DEBIT','RESERVE','RELEASE','CONSUME')),
  request_hash text NOT NULL,
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (service, idempotency_key)
);

CREATE TABLE reservations (
  id text PRIMARY KEY,
  account_id text NOT NULL,
  asset text NOT NULL,
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  released numeric(78,0) NOT NULL DEFAULT 0 CHECK (released >= 0),
  consumed numeric(78,0) NOT NULL DEFAULT 0 CHECK (consumed >= 0),
  status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','CLOSED')),
  reason text NOT NULL,
  service text NOT NULL,
  operation_id text NOT NULL REFERENCES ledger_operations (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (account_id, asset) REFERENCES balances (account_id, asset),
  CONSTRAINT reservations_within_amount CHECK (released + consumed <= amount),
  CONSTRAINT reservations_closed_when_spent CHECK ((status = 'CLOSED') = (released + consumed = amount))
);
CREATE INDEX reservations_open ON reservations (account_id, asset) WHERE status = 'OPEN';

-- The journal: every change of a balance, append-only (a trigger refuses
-- UPDATE and DELETE). total and reserved equal the sums of their deltas.
CREATE TABLE ledger_entries (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id text NOT NULL,
  asset text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('CREDIT','DEBIT','RESERVE','RELEASE','CONSUME')),
  total_delta numeric(78,0) NOT NULL,
  reserved_delta numeric(78,0) NOT NULL,
  total_after numeric(78,0) NOT NULL CHECK (total_after >= 0),
  reserved_after numeric(78,0) NOT NULL CHECK (reserved_after >= 0 AND reserved_after <= total_after),
  reservation_id text REFERENCES reservations (id),
  operation_id text NOT NULL REFERENCES ledger_operations (id),
  reason text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (account_id, asset) REFERENCES balances (account_id, asset),
  CHECK (total_delta <> 0 OR reserved_delta <> 0)
);
CREATE INDEX ledger_entries_balance ON ledger_entries (account_id, asset, seq);

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger_entries is append-only' USING ERRCODE = '55000';
END $$;
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();
