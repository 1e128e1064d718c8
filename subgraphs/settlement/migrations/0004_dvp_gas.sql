-- What each settled DvP transaction cost, from its receipt: gas used and the
-- effective price paid per unit of gas (wei).
ALTER TABLE dvp_batches
  ADD COLUMN gas_used numeric(78,0) CHECK (gas_used >= 0),
  ADD COLUMN effective_gas_price numeric(78,0) CHECK (effective_gas_price >= 0);
