-- The split of the token in progress at issuance (from its CHAIN status to DONE, on issuance's feed):
-- the book's open orders are cancelled (reason SPLIT) and new ones refused until it is done.
ALTER TABLE books ADD COLUMN split_id text;
