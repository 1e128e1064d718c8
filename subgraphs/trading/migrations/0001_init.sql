CREATE TABLE orders (
  id text PRIMARY KEY,
  org text NOT NULL,
  token_id text NOT NULL,
  account_id text NOT NULL,
  side text NOT NULL CHECK (side IN ('BUY','SELL')),
  price numeric(78,0) NOT NULL CHECK (price > 0),
  quantity numeric(78,0) NOT NULL CHECK (quantity > 0),
  remaining numeric(78,0) NOT NULL CHECK (remaining >= 0 AND remaining <= quantity),
  status text NOT NULL CHECK (status IN ('OPEN','PARTIALLY_FILLED','FILLED','CANCELLED','REJECTED')),
  client_order_id text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org, client_order_id)
);
CREATE INDEX orders_book ON orders (token_id, side, price) WHERE status IN ('OPEN','PARTIALLY_FILLED');
CREATE INDEX orders_org ON orders (org, created_at);

CREATE TABLE trades (
  id text PRIMARY KEY,
  token_id text NOT NULL,
  price numeric(78,0) NOT NULL CHECK (price > 0),
  quantity numeric(78,0) NOT NULL CHECK (quantity > 0),
  buy_order_id text NOT NULL REFERENCES orders (id),
  sell_order_id text NOT NULL REFERENCES orders (id),
  executed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trades_token ON trades (token_id, executed_at);
