-- Withdrawal policy: one row per organisation (account_id NULL, the org
-- default) or per account; absent rows fall back to the configured defaults.
-- Changed only by an approved policy_changes row.
CREATE TABLE withdrawal_policies (
  id text PRIMARY KEY,
  org text NOT NULL,
  account_id text REFERENCES custody_accounts (id),
  policy jsonb NOT NULL,
  version integer NOT NULL CHECK (version > 0),
  change_id text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX withdrawal_policies_scope ON withdrawal_policies (org, coalesce(account_id, ''));

CREATE TABLE policy_changes (
  id text PRIMARY KEY,
  org text NOT NULL,
  account_id text REFERENCES custody_accounts (id),
  proposed jsonb NOT NULL,
  -- Version of the scope's policy the proposal was made against (0: none yet):
  -- a change applied in between supersedes this one instead of being overwritten.
  base_version integer NOT NULL CHECK (base_version >= 0),
  -- The quorum of the policy in force when proposed.
  approvals_required integer NOT NULL CHECK (approvals_required > 0),
  approvers jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('PENDING','APPLIED','REJECTED','SUPERSEDED')),
  proposed_by text NOT NULL,
  decided_by text,
  decision_reason text,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  decided_at timestamptz,
  UNIQUE (org, idempotency_key)
);
CREATE INDEX policy_changes_org ON policy_changes (org, created_at);

CREATE TABLE policy_change_approvals (
  change_id text NOT NULL REFERENCES policy_changes (id),
  approver text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (change_id, approver)
);

-- Allow-list of external addresses per account; an entry is usable from usable_from
-- (added + the policy's delay), so a hijacked session cannot add-and-drain at once.
CREATE TABLE withdrawal_destinations (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  address text NOT NULL CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
  label text NOT NULL,
  added_by text NOT NULL,
  usable_from timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  removed_at timestamptz,
  removed_by text
);
CREATE UNIQUE INDEX withdrawal_destinations_active ON withdrawal_destinations (account_id, address) WHERE removed_at IS NULL;

CREATE TABLE withdrawals (
  id text PRIMARY KEY,
  org text NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  asset text NOT NULL REFERENCES assets (id),
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  to_address text NOT NULL CHECK (to_address ~ '^0x[0-9a-fA-F]{40}$'),
  destination_id text NOT NULL REFERENCES withdrawal_destinations (id),
  reservation_id text NOT NULL UNIQUE REFERENCES reservations (id),
  status text NOT NULL CHECK (status IN ('PENDING_APPROVAL','APPROVED','BROADCASTING','COMPLETED','REJECTED','FAILED')),
  initiated_by text NOT NULL,
  -- The quorum of the policy in force at the request: later policy changes do not move pending withdrawals.
  approvals_required integer NOT NULL CHECK (approvals_required > 0),
  approvers jsonb NOT NULL,
  -- Broadcast: the signed transaction is stored before it is sent, so a restart
  -- re-sends the same transaction (same hash) instead of signing a second one.
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  raw_tx text,
  tx_hash text,
  submitted_at timestamptz,
  next_attempt_at timestamptz,
  last_error text,
  decided_by text,
  decision_reason text,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, idempotency_key),
  CHECK (status <> 'BROADCASTING' OR (raw_tx IS NOT NULL AND tx_hash IS NOT NULL)),
  CHECK (status <> 'COMPLETED' OR tx_hash IS NOT NULL)
);
CREATE INDEX withdrawals_velocity ON withdrawals (account_id, asset, created_at);
CREATE INDEX withdrawals_queue ON withdrawals (next_attempt_at) WHERE status IN ('APPROVED','BROADCASTING');

CREATE TABLE withdrawal_approvals (
  withdrawal_id text NOT NULL REFERENCES withdrawals (id),
  approver text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (withdrawal_id, approver)
);
