-- Votes of the holders of record: the entitlements are the cap table as of the
-- record date, fixed when the vote opens (later trades do not move them).
CREATE TABLE votes (
  id text PRIMARY KEY,
  token_id text NOT NULL REFERENCES security_tokens (id),
  record_date timestamptz NOT NULL,
  question text NOT NULL,
  options jsonb NOT NULL,
  closes_at timestamptz NOT NULL CHECK (closes_at > record_date),
  status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','CLOSED')),
  eligible_units numeric(78,0) NOT NULL CHECK (eligible_units > 0),
  opened_by text NOT NULL,
  org text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  opened_at timestamptz NOT NULL DEFAULT now(),
  -- Set once, when the vote closes: the tally, the signed EIP-712 record and who signed it.
  closed_at timestamptz,
  result jsonb,
  signature text,
  signer text,
  UNIQUE (org, idempotency_key)
);
CREATE INDEX votes_due ON votes (closes_at) WHERE status = 'OPEN';
CREATE INDEX votes_token ON votes (token_id, opened_at);

-- orgs: who may vote for the holder, fixed at opening: the organisation that
-- onboarded it and the custodians whose wallets held the token then.
CREATE TABLE vote_entitlements (
  vote_id text NOT NULL REFERENCES votes (id),
  investor_id text NOT NULL REFERENCES investors (id),
  units numeric(78,0) NOT NULL CHECK (units > 0),
  orgs text[] NOT NULL,
  PRIMARY KEY (vote_id, investor_id)
);
CREATE INDEX vote_entitlements_investor ON vote_entitlements (investor_id);

-- Every ballot is kept; a later ballot of the same holder replaces the earlier one in the count (current).
CREATE TABLE ballots (
  id text PRIMARY KEY,
  vote_id text NOT NULL,
  investor_id text NOT NULL,
  choices jsonb NOT NULL,
  units numeric(78,0) NOT NULL CHECK (units > 0),
  current boolean NOT NULL DEFAULT true,
  cast_by text NOT NULL,
  cast_by_org text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  cast_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (vote_id, investor_id) REFERENCES vote_entitlements (vote_id, investor_id),
  UNIQUE (vote_id, cast_by_org, idempotency_key)
);
CREATE UNIQUE INDEX ballots_current ON ballots (vote_id, investor_id) WHERE current;

-- Which custodian organisation holds each custody wallet (custody's account.opened events).
CREATE TABLE custodian_wallets (
  address text PRIMARY KEY,
  investor_id text NOT NULL REFERENCES investors (id),
  org text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now()
);
