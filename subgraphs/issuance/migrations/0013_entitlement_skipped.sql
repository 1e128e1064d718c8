-- SKIPPED: the holder's wallet is a custody wallet of the paying account itself (custody's finding at
-- payment time). The payer owes itself nothing, and a payment would move nothing on chain while the
-- books consumed it; final, with the reason.
ALTER TABLE entitlements DROP CONSTRAINT entitlements_status_check;
ALTER TABLE entitlements ADD CONSTRAINT entitlements_status_check CHECK (status IN ('PENDING','PAID','FAILED','HELD','SKIPPED'));
ALTER TABLE entitlements ADD CONSTRAINT entitlements_skipped_reason CHECK (status <> 'SKIPPED' OR reason IS NOT NULL);
