-- The settlement outcome of each fill, from settlement's settlement.status feed: its final status
-- (SETTLED, REJECTED, CANCELLED, or FAILED with no attempts left) and when trading learned it. A fill
-- without one is unsettled; the fills of a token still unsettled bound its new orders (TRADING_MAX_UNSETTLED).
ALTER TABLE trades
  ADD COLUMN settlement_status text CHECK (settlement_status IN ('SETTLED','REJECTED','CANCELLED','FAILED')),
  ADD COLUMN settlement_final_at timestamptz;
CREATE INDEX trades_unsettled ON trades (token_id) WHERE settlement_status IS NULL;
