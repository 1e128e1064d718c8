-- A lot carries where its Rule 144 holding period started and whether it is still restricted, and the
-- sender's lot it came from: a buyer from a non-affiliate tacks the seller's period, a buyer from an
-- affiliate starts afresh, a resale after the period frees the securities (17 CFR 230.144(b)(1), (d)).
ALTER TABLE lots
  ADD COLUMN restricted boolean NOT NULL DEFAULT true,
  ADD COLUMN parent_lot_id text REFERENCES lots (id);

-- Lots the indexer wrote for a transfer: piece i of a Transfer log came from the i-th lot it consumed
-- (the sender's lots were consumed oldest holding period first; the indexer numbered pieces log_index * 100 + i).
WITH pieces AS (
  SELECT c.lot_id, c.tx_hash, c.log_index,
         row_number() OVER (PARTITION BY c.tx_hash, c.log_index, p.investor_id ORDER BY p.holding_period_start, p.id) - 1 AS i
  FROM lot_consumptions c JOIN lots p ON p.id = c.lot_id
)
UPDATE lots l SET parent_lot_id = pieces.lot_id FROM pieces
WHERE l.source = 'TRANSFER' AND l.tx_hash = pieces.tx_hash AND l.log_index = pieces.log_index * 100 + pieces.i;

-- Existing transfer lots were given a fresh period: tack the sender's, along the chain of lots, unless the
-- sender is the issuer or an affiliate (its buyer's period starts at the purchase). Lots stay restricted;
-- the engine frees them when their (tacked) period is complete.
WITH RECURSIVE tree (id, start) AS (
  SELECT id, holding_period_start FROM lots WHERE parent_lot_id IS NULL
  UNION ALL
  SELECT c.id, CASE WHEN s.issuer_relation = 'NONE' THEN tree.start ELSE c.acquired_at END
  FROM tree JOIN lots c ON c.parent_lot_id = tree.id JOIN lots p ON p.id = c.parent_lot_id JOIN investors s ON s.id = p.investor_id
)
UPDATE lots l SET holding_period_start = tree.start FROM tree WHERE l.id = tree.id AND l.holding_period_start <> tree.start;
