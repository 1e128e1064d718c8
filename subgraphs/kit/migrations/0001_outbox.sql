-- Transactional outbox: a state change and the event describing it commit together.
-- seq is gapless and follows commit order (assigned under a transaction-scoped
-- advisory lock), so a reader at cursor N never skips an event that commits later.
CREATE TABLE outbox (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  topic text NOT NULL,
  key text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_topic_seq ON outbox (topic, seq);

-- A consumer's position in another subgraph's feed, moved in the same
-- transaction as the effects of the events it has processed.
CREATE TABLE feed_cursors (
  source text PRIMARY KEY,
  position bigint NOT NULL CHECK (position >= 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
