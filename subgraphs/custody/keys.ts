import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Wallet, type Provider } from 'ethers';
import { ConfigError } from '../kit/config.js';
import type { Queryable } from '../kit/db/types.js';
import { newId } from '../kit/ids.js';
import { tokenSigner, type KeyStore, type KitSigner, type SignerKind } from '../kit/signer/index.js';
import { insertWallet, walletKeyOf } from './store/accounts.js';

/**
 * Wallet keys at rest: AES-256-GCM under the key-encryption key (KEK) from
 * config. The wallet address is bound as associated data so that a
 * ciphertext moved to another wallet row fails to decrypt.
 */
export interface SealedKey {
  address: string;
  encrypted: Buffer;
  /** Names the KEK (a hash of it), so rotation can tell old ciphertexts apart. */
  kekId: string;
}

const kekBytes = (kekHex: string) => Buffer.from(kekHex.slice(2), 'hex');

export const kekIdOf = (kekHex: string): string => createHash('sha256').update(kekBytes(kekHex)).digest('hex').slice(0, 16);

export function generateSealedWallet(kekHex: string): SealedKey {
  const w = Wallet.createRandom();
  return { address: w.address, encrypted: seal(kekHex, w.privateKey, w.address), kekId: kekIdOf(kekHex) };
}

export function seal(kekHex: string, privateKey: string, address: string): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kekBytes(kekHex), iv);
  c.setAAD(Buffer.from(address.toLowerCase()));
  const body = Buffer.concat([c.update(Buffer.from(privateKey.slice(2), 'hex')), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

/** Only the signing path calls this; the result never leaves the process. */
export function unseal(kekHex: string, sealed: Buffer, address: string): string {
  const d = createDecipheriv('aes-256-gcm', kekBytes(kekHex), sealed.subarray(0, 12));
  d.setAAD(Buffer.from(address.toLowerCase()));
  d.setAuthTag(sealed.subarray(12, 28));
  return '0x' + Buffer.concat([d.update(sealed.subarray(28)), d.final()]).toString('hex');
}

/**
 * Custody's wallet keys, wherever they live. Software: generated here and sealed in the wallet row
 * under CUSTODY_KEK. SIGNER=pkcs11: generated inside the HSM as a non-extractable key labelled
 * custody/<account>/<wallet>; the row holds the label and the address read from the token.
 * Either kind signs through the same ethers signer, so the callers never see a key. Wallets sealed
 * before the move to an HSM keep signing while CUSTODY_KEK is still set (sweep them, then drop it).
 */
export interface WalletKeys {
  readonly kind: SignerKind;
  /** Creates the account's new wallet (its key and its row); returns its id and address. */
  open(q: Queryable, accountId: string): Promise<{ id: string; address: string }>;
  /** The signer of a custody wallet, read through q (PGlite has one connection: pass the open transaction). */
  signer(q: Queryable, address: string, provider?: Provider | null): Promise<KitSigner>;
  /** The signer of a wallet row already read (a list of consents reads its wallets in one statement). */
  signerOfRow(row: WalletKeyRow, provider?: Provider | null): KitSigner;
}

/** Where a wallet's key is: sealed in the row, or labelled in the HSM. */
export interface WalletKeyRow { address: string; encrypted_key: Buffer | null; key_label: string | null }

export function walletKeys(kekHex: string | undefined, store: KeyStore): WalletKeys {
  if (store.kind === 'software' && !kekHex) throw new ConfigError('CUSTODY_KEK', 'is required when SIGNER=software (it seals the wallet keys)');
  const signerOfRow = (row: WalletKeyRow, provider: Provider | null = null): KitSigner => {
    if (row.key_label) {
      const key = store.token?.key(row.key_label);
      if (!key) throw new Error(`the key of wallet ${row.address} (${row.key_label}) is not in ${store.token ? `token "${store.token.label}"` : 'this process: SIGNER is software'}`);
      return tokenSigner(store.token!, key, provider);
    }
    if (!kekHex) throw new Error(`wallet ${row.address} is sealed in software and CUSTODY_KEK is not set`);
    return new Wallet(unseal(kekHex, row.encrypted_key!, row.address), provider);
  };
  return {
    kind: store.kind,
    async open(q, accountId) {
      const id = newId('wal');
      if (store.token) {
        const key = store.token.generate(`custody/${accountId}/${id}`);
        await insertWallet(q, { id, accountId, address: key.address, keyLabel: key.label });
        return { id, address: key.address };
      }
      const sealed = generateSealedWallet(kekHex!);
      await insertWallet(q, { id, accountId, address: sealed.address, encrypted: sealed.encrypted, kekId: sealed.kekId });
      return { id, address: sealed.address };
    },
    async signer(q, address, provider = null) {
      const row = await walletKeyOf(q, address);
      if (!row) throw new Error(`no custody wallet ${address}`);
      return signerOfRow(row, provider);
    },
    signerOfRow,
  };
}
