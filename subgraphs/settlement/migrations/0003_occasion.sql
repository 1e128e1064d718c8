-- Why the tokens of an external trade move when it is not a sale (a gift, an inheritance, a family trust, a
-- divorce settlement): issuance decides the rules with it and, once settled, the receiver's lots tack the
-- giver's holding period (17 CFR 230.144(d)(3)).
ALTER TABLE settlements
  ADD COLUMN occasion text NOT NULL DEFAULT 'SALE' CHECK (occasion IN ('SALE','GIFT','INHERITANCE','FAMILY_TRUST','DIVORCE'));
