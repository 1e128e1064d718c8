-- Cash in lieu of fractions at a split is paid as a distribution of kind CASH_IN_LIEU, fixed in the
-- transaction that scales the lots and paid like any distribution (custody, from the issuer's paying
-- account). The split names the paying account; the distribution names its split.
ALTER TABLE splits ADD COLUMN paying_account_id text;
ALTER TABLE distributions ADD COLUMN split_id text UNIQUE REFERENCES splits (id);
ALTER TABLE distributions DROP CONSTRAINT distributions_kind_check;
ALTER TABLE distributions ADD CONSTRAINT distributions_kind_check CHECK (kind IN ('DIVIDEND','COUPON','RETURN_OF_CAPITAL','REDEMPTION','CASH_IN_LIEU'));
ALTER TABLE distributions ADD CONSTRAINT distributions_cash_in_lieu_of_split CHECK ((kind = 'CASH_IN_LIEU') = (split_id IS NOT NULL));
