-- The venue: order lifecycle, the engine journal, books with their single
-- writer's epoch, reservations at custody, the command queue between trading
-- processes, the order audit trail, subscribers and surveillance.

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('PENDING_NEW','OPEN','PARTIALLY_FILLED','FILLED','CANCELLED','EXPIRED','REJECTED'));
-- Market orders have no limit price (their collar is protection_price).
ALTER TABLE orders ALTER COLUMN price DROP NOT NULL;
ALTER TABLE orders
  ADD COLUMN investor_id text,
  ADD COLUMN type text NOT NULL DEFAULT 'LIMIT' CHECK (type IN ('LIMIT','MARKET')),
  ADD COLUMN time_in_force text NOT NULL DEFAULT 'GTC' CHECK (time_in_force IN ('GTC','DAY','IOC','FOK')),
  ADD COLUMN post_only boolean NOT NULL DEFAULT false,
  ADD COLUMN stp text NOT NULL DEFAULT 'CANCEL_NEWEST' CHECK (stp IN ('CANCEL_NEWEST','CANCEL_OLDEST','DECREMENT','NONE')),
  ADD COLUMN protection_price numeric(78,0) CHECK (protection_price > 0),
  ADD COLUMN filled numeric(78,0) NOT NULL DEFAULT 0 CHECK (filled >= 0),
  ADD COLUMN priority bigint,
  ADD COLUMN reject_reasons jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN cancel_reason text,
  ADD COLUMN accepted_at timestamptz,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE orders ADD CONSTRAINT orders_price_by_type CHECK ((type = 'LIMIT') = (price IS NOT NULL));
ALTER TABLE orders ADD CONSTRAINT orders_filled_within CHECK (filled + remaining <= quantity);
CREATE INDEX orders_account ON orders (account_id, created_at);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING_NEW';
CREATE INDEX orders_day ON orders (token_id, accepted_at) WHERE time_in_force = 'DAY' AND status IN ('OPEN','PARTIALLY_FILLED');

-- One row per traded token: the writer's fencing epoch (bumped by each process
-- that takes the book over), the last journaled engine event, halts, last price.
CREATE TABLE books (
  token_id text PRIMARY KEY,
  epoch bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
  last_event_seq bigint NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0),
  halted boolean NOT NULL DEFAULT false,
  halt_reason text,
  halted_by text,
  halted_at timestamptz,
  issuer_paused boolean NOT NULL DEFAULT false,
  issuer_paused_at timestamptz,
  last_price numeric(78,0) CHECK (last_price > 0),
  last_trade_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The engine journal: every event every book emitted, in its order. Append-only.
CREATE TABLE book_events (
  token_id text NOT NULL,
  seq bigint NOT NULL CHECK (seq > 0),
  epoch bigint NOT NULL,
  type text NOT NULL,
  order_id text,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (token_id, seq)
);

ALTER TABLE trades
  ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  ADD COLUMN book_seq bigint,
  ADD COLUMN aggressor_side text CHECK (aggressor_side IN ('BUY','SELL')),
  ADD COLUMN buy_account_id text,
  ADD COLUMN sell_account_id text,
  ADD COLUMN buy_investor_id text,
  ADD COLUMN sell_investor_id text,
  ADD COLUMN buy_org text,
  ADD COLUMN sell_org text,
  ADD COLUMN cash_amount numeric(78,0) CHECK (cash_amount >= 0),
  ADD COLUMN buyer_fee numeric(78,0) NOT NULL DEFAULT 0 CHECK (buyer_fee >= 0),
  ADD COLUMN seller_fee numeric(78,0) NOT NULL DEFAULT 0 CHECK (seller_fee >= 0),
  ADD COLUMN reservations jsonb NOT NULL DEFAULT '{}';
CREATE INDEX trades_token_seq ON trades (token_id, seq);
CREATE INDEX trades_buy_account ON trades (buy_account_id, seq);
CREATE INDEX trades_sell_account ON trades (sell_account_id, seq);

-- What an order holds at custody, in tranches (a replace that needs more adds
-- one). used = attributed to trades (settlement consumes it), released = given back.
CREATE TABLE order_reservations (
  order_id text NOT NULL REFERENCES orders (id),
  tranche int NOT NULL CHECK (tranche >= 0),
  reservation_key text NOT NULL UNIQUE,
  account_id text NOT NULL,
  asset text NOT NULL,
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  used numeric(78,0) NOT NULL DEFAULT 0 CHECK (used >= 0),
  released numeric(78,0) NOT NULL DEFAULT 0 CHECK (released >= 0),
  PRIMARY KEY (order_id, tranche),
  CHECK (used + released <= amount)
);

-- Releases owed to custody, written with the change that owes them and sent
-- after commit (retried until custody confirms; idempotent by key).
CREATE TABLE reservation_ops (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id text NOT NULL,
  reservation_key text NOT NULL,
  -- NULL: release whatever the reservation holds (a reservation whose order never reached the book).
  amount numeric(78,0) CHECK (amount > 0),
  idempotency_key text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','DONE','FAILED')),
  attempts int NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz
);
CREATE INDEX reservation_ops_pending ON reservation_ops (id) WHERE status = 'PENDING';

-- A reservation asked of custody but not yet recorded by the book writer. A
-- process that dies in between leaves one behind; the recovery sweep releases it.
CREATE TABLE reservation_intents (
  reservation_key text PRIMARY KEY,
  order_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Commands for a book whose writer is another trading process.
CREATE TABLE commands (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('PLACE','CANCEL','REPLACE','EXPIRE')),
  order_id text,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','DONE')),
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz
);
CREATE INDEX commands_pending ON commands (token_id, id) WHERE status = 'PENDING';

-- Every order event with its time, append-only.
CREATE TABLE order_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id text NOT NULL,
  token_id text NOT NULL,
  org text NOT NULL,
  event text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}',
  actor text,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX order_audit_order ON order_audit (order_id, id);

-- Organisations the ATS operator admitted (or suspended), and the history of decisions.
CREATE TABLE subscribers (
  org text PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('ADMITTED','SUSPENDED')),
  reason text NOT NULL,
  updated_by text NOT NULL,
  admitted_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE subscriber_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org text NOT NULL,
  status text NOT NULL,
  reason text NOT NULL,
  actor text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE surveillance_alerts (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('WASH_TRADE','LAYERING')),
  token_id text NOT NULL,
  orgs text[] NOT NULL,
  account_id text,
  investor_id text,
  order_ids text[] NOT NULL DEFAULT '{}',
  trade_ids text[] NOT NULL DEFAULT '{}',
  detail jsonb NOT NULL DEFAULT '{}',
  dedupe_key text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX surveillance_alerts_token ON surveillance_alerts (token_id, created_at);

CREATE FUNCTION trading_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = '55000';
END $$;
CREATE TRIGGER book_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON book_events
  FOR EACH STATEMENT EXECUTE FUNCTION trading_append_only();
CREATE TRIGGER order_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON order_audit
  FOR EACH STATEMENT EXECUTE FUNCTION trading_append_only();
CREATE TRIGGER subscriber_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON subscriber_history
  FOR EACH STATEMENT EXECUTE FUNCTION trading_append_only();
