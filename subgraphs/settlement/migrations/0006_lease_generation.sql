-- Fenced leases: every claim of a settlement or DvP batch takes a new
-- generation, the worker renews the leases of the work it still holds, and a
-- write made under a lease is refused once another claim has taken the row
-- (lease_gen moved on), so a process that paused past its lease never writes
-- over the new holder's progress. lease_owner names the process (diagnostics).
ALTER TABLE settlements
  ADD COLUMN lease_gen bigint NOT NULL DEFAULT 0,
  ADD COLUMN lease_owner text;
ALTER TABLE dvp_batches
  ADD COLUMN lease_gen bigint NOT NULL DEFAULT 0,
  ADD COLUMN lease_owner text;
