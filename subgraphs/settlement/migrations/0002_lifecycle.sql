-- Settlement lifecycle: verification, DvP batches on chain, attestations, the
-- hash-chained audit log, external venues. Invariants live here as well as in code.

ALTER TABLE settlements
  ADD COLUMN source text NOT NULL DEFAULT 'EXTERNAL' CHECK (source IN ('TRADING','EXTERNAL')),
  -- trading's trd_ id for fills: one settlement per fill, ever
  ADD COLUMN trade_id text,
  ADD COLUMN cash_asset text NOT NULL DEFAULT 'CASH',
  -- base units of the cash token the buyer pays (NULL only on rows from before this migration; computed at verification)
  ADD COLUMN cash_amount numeric(78,0) CHECK (cash_amount > 0),
  ADD COLUMN buyer_investor_id text,
  ADD COLUMN seller_investor_id text,
  ADD COLUMN buyer_org text,
  ADD COLUMN seller_org text,
  ADD COLUMN buyer_wallet text,
  ADD COLUMN seller_wallet text,
  ADD COLUMN buyer_fee numeric(78,0) NOT NULL DEFAULT 0 CHECK (buyer_fee >= 0),
  ADD COLUMN seller_fee numeric(78,0) NOT NULL DEFAULT 0 CHECK (seller_fee >= 0),
  -- trading's reservation shares of a fill: {"buy":[{key,asset,amount}],"sell":[...]}
  ADD COLUMN trading_reservations jsonb,
  -- what settlement holds at custody under its own keys, and what became of it
  ADD COLUMN held jsonb,
  ADD COLUMN held_state text NOT NULL DEFAULT 'NONE' CHECK (held_state IN ('NONE','HELD','CONSUMED','RELEASED')),
  ADD COLUMN mode text NOT NULL DEFAULT 'GROSS' CHECK (mode IN ('GROSS','NETTED')),
  -- chain facts fixed at verification
  ADD COLUMN token_address text,
  -- the token's ERC-3643 suite as issuance recorded it (identity registry, claim topics registry...)
  ADD COLUMN token_chain jsonb,
  ADD COLUMN cash_token_address text,
  ADD COLUMN eligibility jsonb,
  ADD COLUMN rejection jsonb,
  ADD COLUMN reason_code text CHECK (reason_code IS NULL OR reason_code IN ('AWAITING_SECURITIES','AWAITING_CASH','COUNTERPARTY_INELIGIBLE','CHAIN_ERROR')),
  ADD COLUMN reason text,
  ADD COLUMN final boolean NOT NULL DEFAULT false,
  ADD COLUMN attempts int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- when the worker should look at the row again; NULL: nothing to do (final, or waiting for a netting cycle)
  ADD COLUMN next_attempt_at timestamptz,
  ADD COLUMN lease_until timestamptz,
  ADD COLUMN last_error text,
  -- reservations still to be released (final states); done by the worker once no consent can be used any more
  ADD COLUMN release_pending boolean NOT NULL DEFAULT false,
  ADD COLUMN consent_deadline timestamptz,
  ADD COLUMN batch_id text,
  ADD COLUMN tx_hash text,
  ADD COLUMN block_number bigint,
  ADD COLUMN settled_at timestamptz,
  ADD COLUMN attestation jsonb,
  ADD COLUMN attestation_signature text,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
  ADD CONSTRAINT settlements_settled_on_chain CHECK (status <> 'SETTLED' OR (tx_hash IS NOT NULL AND block_number IS NOT NULL)),
  ADD CONSTRAINT settlements_failed_has_code CHECK (status <> 'FAILED' OR reason_code IS NOT NULL),
  ADD CONSTRAINT settlements_final_states CHECK (final = (status IN ('REJECTED','SETTLED','CANCELLED') OR (status = 'FAILED' AND final)));

-- Rows recorded before this migration are verified from the start.
UPDATE settlements SET next_attempt_at = now() WHERE status = 'RECEIVED';

CREATE UNIQUE INDEX settlements_trade ON settlements (trade_id) WHERE trade_id IS NOT NULL;
CREATE INDEX settlements_due ON settlements (next_attempt_at, created_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX settlements_netting ON settlements (token_id, created_at) WHERE status = 'VERIFIED' AND mode = 'NETTED';
CREATE INDEX settlements_buyer_org ON settlements (buyer_org, created_at);
CREATE INDEX settlements_seller_org ON settlements (seller_org, created_at);
CREATE INDEX settlements_batch ON settlements (batch_id) WHERE batch_id IS NOT NULL;

ALTER TABLE settlement_history
  ADD COLUMN reason_code text,
  ADD COLUMN actor text;

-- One DvP transaction: a single settlement (gross) or many netted together.
-- Its id hashed is the on-chain batch id, which the contract settles at most once.
CREATE TABLE dvp_batches (
  id text PRIMARY KEY,
  chain_batch_id text NOT NULL UNIQUE,
  mode text NOT NULL CHECK (mode IN ('GROSS','NETTED')),
  token_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('PREPARED','SUBMITTED','SETTLED','FAILED')),
  dvp_address text NOT NULL,
  chain_id bigint NOT NULL,
  legs jsonb NOT NULL,
  -- payers: [{accountId, wallet, reservationKeys}]
  payers jsonb NOT NULL,
  consents jsonb,
  consent_deadline timestamptz NOT NULL,
  tx_hash text,
  block_number bigint,
  block_time timestamptz,
  reason_code text,
  reason text,
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  lease_until timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'SETTLED' OR (tx_hash IS NOT NULL AND block_number IS NOT NULL))
);
CREATE INDEX dvp_batches_due ON dvp_batches (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

-- Standing allowances custody wallets gave the DvP contract (asked once per wallet, token and spender).
CREATE TABLE spender_approvals (
  wallet text NOT NULL,
  token text NOT NULL,
  spender text NOT NULL,
  tx_hash text,
  approved_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (wallet, token, spender)
);

-- Chain facts settlement keeps (the DvP contract it deployed, per chain).
CREATE TABLE chain_settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Which tokens each external venue may submit trades in (SETTLEMENT_AGENT decides).
CREATE TABLE venue_tokens (
  venue text NOT NULL,
  token_id text NOT NULL,
  authorized_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (venue, token_id)
);

-- Every decision, append-only and hash-chained: each entry's hash covers the
-- previous entry's hash, so a changed or removed entry breaks the chain.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  settlement_id text,
  batch_id text,
  kind text NOT NULL,
  actor text NOT NULL,
  detail jsonb NOT NULL,
  at timestamptz NOT NULL,
  prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_settlement ON audit_log (settlement_id, seq) WHERE settlement_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = '55000';
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
