-- Custody follows the chain: an indexer reads every Transfer of every
-- registered asset from a durable cursor, records what touched our wallets,
-- credits deposits, and a job reconciles the books against it.

-- Wallet recovery: an account keeps every wallet it ever had; one is active
-- (signs withdrawals and DvP consents), the others are retired.
ALTER TABLE wallets ADD COLUMN retired_at timestamptz;
ALTER TABLE wallets ADD COLUMN replaced_by text REFERENCES wallets (id);
CREATE UNIQUE INDEX wallets_one_active ON wallets (account_id) WHERE retired_at IS NULL;
CREATE INDEX wallets_lower_address ON wallets (lower(address));

CREATE TABLE wallet_recoveries (
  id text PRIMARY KEY,
  org text NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  lost_wallet text NOT NULL,
  new_wallet text NOT NULL,
  reason text NOT NULL,
  requested_by text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, idempotency_key)
);

-- balances.on_chain is the sum of the account's movements below; the block it
-- is as of is the asset's cursor (balances.on_chain_block stays unused).

-- One row per asset ('asset:<id>'): the last block applied, moved in the same
-- transaction as what it applied; block_time is that block's timestamp.
CREATE TABLE chain_cursors (
  name text PRIMARY KEY,
  block bigint NOT NULL CHECK (block >= 0),
  block_time timestamptz
);

-- Every Transfer that touched a custody wallet, one row per wallet side.
-- Their sum per wallet and asset is the wallet's chain balance.
CREATE TABLE chain_movements (
  tx_hash text NOT NULL,
  log_index integer NOT NULL,
  wallet text NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  asset text NOT NULL REFERENCES assets (id),
  counterparty text NOT NULL,
  delta numeric(78,0) NOT NULL CHECK (delta <> 0),
  kind text NOT NULL CHECK (kind IN ('DEPOSIT','INTERNAL','OUTGOING')),
  block bigint NOT NULL,
  block_time timestamptz NOT NULL,
  PRIMARY KEY (tx_hash, log_index, wallet)
);
CREATE INDEX chain_movements_account ON chain_movements (account_id, asset, block_time);

-- Deposits credited to the books: exactly once per log (the primary key).
CREATE TABLE deposits (
  tx_hash text NOT NULL,
  log_index integer NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  asset text NOT NULL REFERENCES assets (id),
  wallet text NOT NULL,
  from_address text NOT NULL,
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  block bigint NOT NULL,
  block_time timestamptz NOT NULL,
  operation_id text NOT NULL REFERENCES ledger_operations (id),
  credited_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tx_hash, log_index)
);
CREATE INDEX deposits_account ON deposits (account_id, block DESC, log_index DESC);

-- Differences between books and chain the reconciliation job has seen. A
-- difference is SUSPECT until it is seen on enough consecutive runs, then
-- OPEN (a break, announced), then CLEARED when it is gone (announced too).
CREATE TABLE reconciliation_breaks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org text NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  asset text NOT NULL REFERENCES assets (id),
  books numeric(78,0) NOT NULL,
  on_chain numeric(78,0) NOT NULL,
  block bigint NOT NULL,
  status text NOT NULL CHECK (status IN ('SUSPECT','OPEN','CLEARED')),
  runs integer NOT NULL CHECK (runs > 0),
  first_seen_at timestamptz NOT NULL,
  opened_at timestamptz,
  cleared_at timestamptz
);
CREATE UNIQUE INDEX reconciliation_breaks_live ON reconciliation_breaks (account_id, asset) WHERE status <> 'CLEARED';
