-- Affiliates of the issuer, with dates (17 CFR 230.144(a)(1)), so that a decision as of an instant knows who was
-- one then, and in the three months before (230.144(b)(1)). An undated investors.issuer_relation = 'AFFILIATE'
-- still counts throughout.
CREATE TABLE issuer_affiliations (
  investor_id text NOT NULL REFERENCES investors (id),
  since timestamptz NOT NULL,
  until timestamptz CHECK (until IS NULL OR until > since),
  reason text NOT NULL,
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (investor_id, since)
);

-- An affiliate's sales in the Rule 144(e) window and a token's recent volume are read by time.
CREATE INDEX lot_consumptions_at ON lot_consumptions (at);
