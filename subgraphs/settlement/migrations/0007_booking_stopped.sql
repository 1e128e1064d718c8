-- Custody's booking of a trade the chain has settled: the attempts so far, and,
-- once it stops (custody refused it for good, or the retries ran out), why:
-- {code, message, retryable, attempts, at}. The trade stays SETTLING with
-- nothing due until an operator has it booked again (retrySettlementBooking).
ALTER TABLE settlements
  ADD COLUMN booking_attempts int NOT NULL DEFAULT 0 CHECK (booking_attempts >= 0),
  ADD COLUMN booking_stopped jsonb,
  ADD CONSTRAINT settlements_booking_stopped_settling CHECK (booking_stopped IS NULL OR status = 'SETTLING');

CREATE INDEX settlements_booking_stopped ON settlements (created_at) WHERE booking_stopped IS NOT NULL;
