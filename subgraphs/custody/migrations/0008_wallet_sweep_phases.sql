-- A sweep moves everything the old wallet holds, one phase after another:
-- CASH (the cash token, signed with the old sealed key), TOKENS (issuance's
-- ERC-3643 recovery of the security tokens to the new wallet), GAS (the old
-- wallet's native balance less that transfer's gas). raw_tx / tx_hash /
-- submitted_at are the phase's transfer in flight; each phase's hash stays.
ALTER TABLE wallet_sweeps ADD COLUMN phase text CHECK (phase IN ('CASH','TOKENS','GAS'));
ALTER TABLE wallet_sweeps ADD COLUMN submitted_at timestamptz;
ALTER TABLE wallet_sweeps ADD COLUMN cash_tx_hash text;
ALTER TABLE wallet_sweeps ADD COLUMN tokens_moved jsonb;
ALTER TABLE wallet_sweeps ADD COLUMN gas_amount numeric(78,0);
ALTER TABLE wallet_sweeps ADD COLUMN gas_tx_hash text;
UPDATE wallet_sweeps SET phase = 'CASH' WHERE status = 'MOVING';
UPDATE wallet_sweeps SET cash_tx_hash = tx_hash WHERE status = 'COMPLETED';
ALTER TABLE wallet_sweeps ADD CONSTRAINT wallet_sweeps_moving_phase CHECK (status <> 'MOVING' OR phase IS NOT NULL);
