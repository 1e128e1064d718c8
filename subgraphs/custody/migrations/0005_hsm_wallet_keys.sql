-- A wallet's key is either sealed here (software: AES-256-GCM under CUSTODY_KEK) or lives in an
-- HSM (SIGNER=pkcs11), where the row holds only the key's label in the token. Never both.
ALTER TABLE wallets ALTER COLUMN encrypted_key DROP NOT NULL;
ALTER TABLE wallets ALTER COLUMN kek_id DROP NOT NULL;
ALTER TABLE wallets ADD COLUMN key_label text;
ALTER TABLE wallets ADD CONSTRAINT wallets_one_key CHECK ((encrypted_key IS NOT NULL AND kek_id IS NOT NULL) <> (key_label IS NOT NULL));
