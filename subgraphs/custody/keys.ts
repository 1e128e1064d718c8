import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import type { Queryable } from '../kit/db/types.js';
import { sealedKeyOf } from './store.js';

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

/** The private key of a custody wallet, unsealed for one signature. */
export async function walletKey(q: Queryable, kekHex: string, address: string): Promise<string> {
  const sealed = await sealedKeyOf(q, address);
  if (!sealed) throw new Error(`no custody wallet ${address}`);
  return unseal(kekHex, sealed.encrypted_key, sealed.address);
}
