CREATE TABLE custody_accounts (
  id text PRIMARY KEY,
  org text NOT NULL,
  investor_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('SEGREGATED','OMNIBUS')),
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, idempotency_key)
);
CREATE INDEX custody_accounts_investor ON custody_accounts (investor_id);
CREATE INDEX custody_accounts_org ON custody_accounts (org);

-- Keys are stored only encrypted (AES-256-GCM under the key-encryption key).
CREATE TABLE wallets (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  address text NOT NULL UNIQUE CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
  encrypted_key bytea NOT NULL,
  kek_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wallets_account ON wallets (account_id);
