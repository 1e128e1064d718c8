-- Distributions to the holders of record (dividends, coupons, returns of capital): each fixes its
-- entitlements from the cap table as of its record date, with the tax withheld per holder, and is
-- paid on its payment date through custody (an outbox instruction per batch, the result read back
-- from custody's feed).

-- Tax forms on file (IRS Forms W-9, W-8BEN, W-8BEN-E): they select the withholding rate. Every form
-- is kept; the latest signed one in force counts.
CREATE TABLE tax_forms (
  investor_id text NOT NULL REFERENCES investors (id),
  form text NOT NULL CHECK (form IN ('W9','W8BEN','W8BEN_E')),
  -- The treaty country claimed (Part II of a W-8BEN / W-8BEN-E); null: no treaty claimed.
  treaty_country text CHECK (treaty_country ~ '^[A-Z]{2}$'),
  signed_at timestamptz NOT NULL,
  expires_at timestamptz,
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (investor_id, signed_at)
);

CREATE TABLE distributions (
  id text PRIMARY KEY,
  token_id text NOT NULL REFERENCES security_tokens (id),
  issuer_org text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('DIVIDEND','COUPON','RETURN_OF_CAPITAL')),
  record_date timestamptz NOT NULL,
  payment_date timestamptz NOT NULL,
  asset text NOT NULL,
  paying_account_id text NOT NULL,
  amount_per_unit numeric(78,0) CHECK (amount_per_unit > 0),
  total_amount numeric(78,0) CHECK (total_amount > 0),
  exclude_issuer boolean NOT NULL,
  -- Units of record entitled, and the sums over the entitlements.
  units numeric(78,0) NOT NULL CHECK (units > 0),
  gross numeric(78,0) NOT NULL,
  withheld numeric(78,0) NOT NULL,
  net numeric(78,0) NOT NULL,
  -- A per-unit amount's fractions of a base unit nobody is paid (0 for a total split pro rata).
  unallocated numeric(78,0) NOT NULL DEFAULT 0 CHECK (unallocated >= 0),
  payment_started_at timestamptz,
  announced_by text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (issuer_org, idempotency_key),
  CHECK (payment_date >= record_date),
  CHECK ((amount_per_unit IS NULL) <> (total_amount IS NULL)),
  CHECK (total_amount IS NULL OR gross = total_amount),
  CHECK (gross = withheld + net)
);
CREATE INDEX distributions_token ON distributions (token_id, created_at);

-- One holder's share of a distribution. PENDING until custody reports the payment: PAID (with its
-- transaction), FAILED (with the reason; instructed again at next_attempt_at) or HELD (frozen or
-- sanctioned at payment time: not instructed).
CREATE TABLE entitlements (
  id text PRIMARY KEY,
  distribution_id text NOT NULL REFERENCES distributions (id),
  investor_id text NOT NULL REFERENCES investors (id),
  units numeric(78,0) NOT NULL CHECK (units > 0),
  gross numeric(78,0) NOT NULL CHECK (gross > 0),
  withheld numeric(78,0) NOT NULL CHECK (withheld >= 0),
  net numeric(78,0) NOT NULL CHECK (net >= 0),
  rate_bps integer NOT NULL CHECK (rate_bps BETWEEN 0 AND 10000),
  basis text NOT NULL,
  jurisdiction text NOT NULL,
  tax_form text,
  status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING','PAID','FAILED','HELD')),
  -- Instructions sent to custody; the one in flight is attempts (custody keys its payment by id and attempt).
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  instructed_at timestamptz,
  next_attempt_at timestamptz,
  paid_to text,
  tx_hash text,
  reference text,
  reason text,
  paid_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (distribution_id, investor_id),
  CHECK (gross = withheld + net),
  CHECK (status <> 'PAID' OR tx_hash IS NOT NULL OR net = 0),
  CHECK (status NOT IN ('FAILED','HELD') OR reason IS NOT NULL)
);
CREATE INDEX entitlements_investor ON entitlements (investor_id, distribution_id);
CREATE INDEX entitlements_due ON entitlements (next_attempt_at) WHERE status IN ('PENDING','FAILED') AND next_attempt_at IS NOT NULL;
