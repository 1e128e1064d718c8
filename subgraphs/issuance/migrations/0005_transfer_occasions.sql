-- Why tokens moved in a transaction, when it was not a sale (a gift, an inheritance, a transfer to a family
-- trust, a divorce settlement), recorded by the transfer agent with a forced transfer: the receiver's lots
-- tack the giver's holding period (17 CFR 230.144(d)(3)). The indexer reads it; recording it after the
-- indexer saw the transaction re-derives the receiver's lots of that transaction.
CREATE TABLE transfer_occasions (
  tx_hash text NOT NULL,
  from_investor_id text NOT NULL REFERENCES investors (id),
  to_investor_id text NOT NULL REFERENCES investors (id),
  occasion text NOT NULL CHECK (occasion IN ('SALE','GIFT','INHERITANCE','FAMILY_TRUST','DIVORCE')),
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tx_hash, from_investor_id, to_investor_id)
);
