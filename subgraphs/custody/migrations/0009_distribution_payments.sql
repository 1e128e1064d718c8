-- Distribution payments: issuance instructs (an outbox event per batch), custody pays each
-- entitlement's net amount from the issuer's paying account as a withdrawal the broadcaster sends
-- (signed and stored before it is sent, so a restart re-sends the same transaction). A holder
-- in custody is credited by the indexer like any withdrawal into a custody wallet.
-- Such a withdrawal has no allow-listed destination (the holder's registered wallet is the issuer's
-- record) and no quorum: it is keyed by the entitlement and the attempt, and at most one per
-- entitlement is alive (not FAILED) at a time, so nobody is paid twice.
ALTER TABLE withdrawals ALTER COLUMN destination_id DROP NOT NULL;
ALTER TABLE withdrawals ADD COLUMN entitlement_id text;
ALTER TABLE withdrawals ADD COLUMN entitlement_attempt integer;
ALTER TABLE withdrawals ADD CONSTRAINT withdrawals_destination_or_entitlement
  CHECK ((destination_id IS NULL) = (entitlement_id IS NOT NULL) AND (entitlement_id IS NULL) = (entitlement_attempt IS NULL));
CREATE UNIQUE INDEX withdrawals_entitlement_attempt ON withdrawals (entitlement_id, entitlement_attempt) WHERE entitlement_id IS NOT NULL;
CREATE UNIQUE INDEX withdrawals_entitlement_alive ON withdrawals (entitlement_id) WHERE entitlement_id IS NOT NULL AND status <> 'FAILED';
