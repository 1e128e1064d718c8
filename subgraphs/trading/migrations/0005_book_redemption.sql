-- The issuer's redemption of the token (from its BURNING status on issuance's feed, never cleared: the token is
-- retired): the book's open orders are cancelled (reason REDEEMED). It was kept in split_id until now; split_id
-- holds splits only from here on.
ALTER TABLE books ADD COLUMN redemption_id text;
UPDATE books SET redemption_id = split_id, split_id = NULL WHERE split_id LIKE 'red\_%';
