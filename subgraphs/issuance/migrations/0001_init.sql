CREATE TABLE security_tokens (
  id text PRIMARY KEY,
  issuer_org text NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  symbol text NOT NULL CHECK (symbol ~ '^[A-Z0-9.]{1,11}$'),
  decimals int NOT NULL CHECK (decimals BETWEEN 0 AND 18),
  exemption text NOT NULL CHECK (exemption IN ('REG_D_506B','REG_D_506C','REG_S','REG_A_TIER1','REG_A_TIER2','REG_CF')),
  status text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT','DEPLOYED','PAUSED')),
  total_supply numeric(78,0) NOT NULL DEFAULT 0 CHECK (total_supply >= 0),
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (issuer_org, idempotency_key),
  UNIQUE (issuer_org, symbol)
);

CREATE TABLE investors (
  id text PRIMARY KEY,
  org text NOT NULL,
  legal_name text NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 300),
  type text NOT NULL CHECK (type IN ('INDIVIDUAL','ENTITY')),
  jurisdiction char(2) NOT NULL,
  us_person boolean NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, idempotency_key)
);
CREATE INDEX investors_org ON investors (org);
