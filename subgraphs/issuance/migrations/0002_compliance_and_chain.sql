-- Token terms the compliance engine reads, and where the token lives on chain.
ALTER TABLE security_tokens
  ADD COLUMN issuer_reporting_since timestamptz,
  ADD COLUMN reg_s jsonb,
  ADD COLUMN listed_on_national_exchange boolean NOT NULL DEFAULT false,
  ADD COLUMN policy jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN paused boolean NOT NULL DEFAULT false,
  ADD COLUMN chain jsonb,
  ADD COLUMN deployed_block bigint,
  ADD COLUMN deployed_at timestamptz;

-- Investor credentials, as recorded by transfer agents and compliance officers.
ALTER TABLE investors
  ADD COLUMN kyc_status text NOT NULL DEFAULT 'PENDING' CHECK (kyc_status IN ('APPROVED','PENDING','REJECTED')),
  ADD COLUMN kyc_approved_at timestamptz,
  ADD COLUMN kyc_expires_at timestamptz,
  ADD COLUMN aml_status text NOT NULL DEFAULT 'PENDING' CHECK (aml_status IN ('CLEAR','PENDING','POTENTIAL_MATCH','CONFIRMED_MATCH')),
  ADD COLUMN aml_screened_at timestamptz,
  ADD COLUMN accredited boolean,
  ADD COLUMN accreditation_method text,
  ADD COLUMN accreditation_verified_at timestamptz,
  ADD COLUMN accreditation_expires_at timestamptz,
  ADD COLUMN issuer_relation text NOT NULL DEFAULT 'NONE' CHECK (issuer_relation IN ('NONE','ISSUER','AFFILIATE')),
  ADD COLUMN annual_income_cents numeric(30,0) CHECK (annual_income_cents >= 0),
  ADD COLUMN net_worth_cents numeric(30,0) CHECK (net_worth_cents >= 0),
  ADD COLUMN identity_address text;

CREATE TABLE investor_wallets (
  address text PRIMARY KEY CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
  investor_id text NOT NULL REFERENCES investors (id),
  status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE','LOST')),
  registered_on_chain boolean NOT NULL DEFAULT false,
  added_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX investor_wallets_investor ON investor_wallets (investor_id);

-- Issuer controls per token and investor (frozen state mirrors what was set on chain).
CREATE TABLE investor_controls (
  token_id text NOT NULL REFERENCES security_tokens (id),
  investor_id text NOT NULL REFERENCES investors (id),
  wallet_frozen boolean NOT NULL DEFAULT false,
  frozen_amount numeric(78,0) NOT NULL DEFAULT 0 CHECK (frozen_amount >= 0),
  liquidate_only boolean NOT NULL DEFAULT false,
  PRIMARY KEY (token_id, investor_id)
);

-- Balances follow the chain (the indexer); per wallet and per investor.
CREATE TABLE holdings (
  token_id text NOT NULL REFERENCES security_tokens (id),
  address text NOT NULL,
  investor_id text REFERENCES investors (id),
  balance numeric(78,0) NOT NULL CHECK (balance >= 0),
  block bigint NOT NULL,
  PRIMARY KEY (token_id, address)
);
CREATE TABLE positions (
  token_id text NOT NULL REFERENCES security_tokens (id),
  investor_id text NOT NULL REFERENCES investors (id),
  balance numeric(78,0) NOT NULL CHECK (balance >= 0),
  -- How this holder is counted in holder_counts (effective accreditation, US person), so that it leaves the bucket it is in.
  counted_accredited boolean NOT NULL DEFAULT false,
  counted_us boolean NOT NULL DEFAULT false,
  PRIMARY KEY (token_id, investor_id)
);
-- Kept up to date with positions so that a decision never counts holders (it must not cost more with more holders).
CREATE TABLE holder_counts (
  token_id text PRIMARY KEY REFERENCES security_tokens (id),
  total int NOT NULL DEFAULT 0 CHECK (total >= 0),
  non_accredited int NOT NULL DEFAULT 0 CHECK (non_accredited >= 0),
  us_persons int NOT NULL DEFAULT 0 CHECK (us_persons >= 0)
);

-- Every acquisition, so that holding periods run per lot. remaining is consumed first in, first out.
CREATE TABLE lots (
  id text PRIMARY KEY,
  token_id text NOT NULL REFERENCES security_tokens (id),
  investor_id text NOT NULL REFERENCES investors (id),
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  remaining numeric(78,0) NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
  acquired_at timestamptz NOT NULL,
  holding_period_start timestamptz NOT NULL,
  issued_at timestamptz NOT NULL,
  source text NOT NULL CHECK (source IN ('ISSUANCE','TRANSFER','FORCED_TRANSFER','RECOVERY')),
  tx_hash text,
  log_index int,
  UNIQUE (tx_hash, log_index, investor_id)
);
CREATE INDEX lots_open ON lots (token_id, investor_id, holding_period_start) WHERE remaining > 0;
-- What left each lot and when, so that a cap table can be rebuilt as of any instant.
CREATE TABLE lot_consumptions (
  lot_id text NOT NULL REFERENCES lots (id),
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  at timestamptz NOT NULL,
  tx_hash text NOT NULL,
  log_index int NOT NULL,
  PRIMARY KEY (lot_id, tx_hash, log_index)
);

-- A primary issuance: the intent is recorded before the mint, completed with the transaction.
CREATE TABLE issuances (
  id text PRIMARY KEY,
  token_id text NOT NULL REFERENCES security_tokens (id),
  investor_id text NOT NULL REFERENCES investors (id),
  wallet text NOT NULL,
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  price_cents numeric(30,0) CHECK (price_cents >= 0),
  acquired_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING','DONE','FAILED')),
  tx_hash text,
  error text,
  org text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, idempotency_key)
);
-- 506(b) counts non-accredited purchasers per offering; Reg CF / Reg A+ limits sum purchases over 12 months.
CREATE TABLE purchases (
  issuance_id text PRIMARY KEY REFERENCES issuances (id),
  token_id text NOT NULL,
  investor_id text NOT NULL,
  exemption text NOT NULL,
  accredited boolean NOT NULL,
  amount_cents numeric(30,0) NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX purchases_investor ON purchases (investor_id, exemption, at);
CREATE INDEX purchases_token ON purchases (token_id, investor_id);
-- 506(b) counts non-accredited purchasers only: the rule itself keeps them few.
CREATE INDEX purchases_non_accredited ON purchases (token_id, at) WHERE NOT accredited;

CREATE TABLE documents (
  token_id text NOT NULL REFERENCES security_tokens (id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  version int NOT NULL CHECK (version >= 1),
  uri text NOT NULL,
  hash text NOT NULL CHECK (hash ~ '^0x[0-9a-f]{64}$'),
  attached_by text NOT NULL,
  attached_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (token_id, name, version)
);

-- Who changed what, when and why. Append-only.
CREATE TABLE audit_log (
  seq bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  org text NOT NULL,
  action text NOT NULL,
  subject_id text NOT NULL,
  reason text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_subject ON audit_log (subject_id, seq);

-- The issuer-wide contracts deployed once: claim issuer, shared identity storage, identity authority.
CREATE TABLE chain_setup (
  id int PRIMARY KEY CHECK (id = 1),
  chain_id bigint NOT NULL,
  claim_issuer text NOT NULL,
  identity_storage text NOT NULL,
  identity_authority text NOT NULL,
  -- The project's compliance module: one deployment keeps settings per token compliance.
  rules_module text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- On-chain identity work queued in the same transaction as the credential change, applied with retries.
CREATE TABLE chain_jobs (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  subject_id text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','DONE')),
  attempts int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz
);
CREATE INDEX chain_jobs_due ON chain_jobs (next_attempt_at) WHERE status = 'PENDING';

-- Claims as issued on chain, to revoke them when they lapse or are withdrawn.
CREATE TABLE claims (
  investor_id text NOT NULL REFERENCES investors (id),
  topic int NOT NULL,
  data text NOT NULL,
  status text NOT NULL CHECK (status IN ('ACTIVE','REVOKED')),
  expires_at timestamptz,
  issued_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  PRIMARY KEY (investor_id, topic, data)
);

-- The indexer's durable position per token.
CREATE TABLE chain_cursors (
  name text PRIMARY KEY,
  block bigint NOT NULL CHECK (block >= 0)
);
