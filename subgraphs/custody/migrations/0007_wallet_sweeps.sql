-- Sweeps of a software-sealed wallet to a new wallet whose key is generated in the HSM.
-- Approved by the account's withdrawal quorum; on quorum the old wallet is retired and the
-- new one opened, then the cash token is moved by a transfer signed with the old sealed key.
-- The signed transfer is stored before it is sent, so a restart re-sends it, never a second one.
CREATE TABLE wallet_sweeps (
  id text PRIMARY KEY,
  org text NOT NULL,
  account_id text NOT NULL REFERENCES custody_accounts (id),
  old_wallet text NOT NULL,
  new_wallet text,
  status text NOT NULL CHECK (status IN ('PENDING_APPROVAL','MOVING','COMPLETED','REJECTED')),
  initiated_by text NOT NULL,
  approvals_required integer NOT NULL CHECK (approvals_required > 0),
  approvers jsonb NOT NULL,
  cash_amount numeric(78,0),
  raw_tx text,
  tx_hash text,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  last_error text,
  decided_by text,
  decision_reason text,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, idempotency_key),
  CHECK (status IN ('PENDING_APPROVAL','REJECTED') OR new_wallet IS NOT NULL)
);
-- One open sweep per account.
CREATE UNIQUE INDEX wallet_sweeps_open ON wallet_sweeps (account_id) WHERE status IN ('PENDING_APPROVAL','MOVING');

CREATE TABLE wallet_sweep_approvals (
  sweep_id text NOT NULL REFERENCES wallet_sweeps (id),
  approver text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (sweep_id, approver)
);
