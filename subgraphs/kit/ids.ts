import { randomBytes } from 'node:crypto';

export const ID_PREFIXES = ['tok', 'inv', 'ord', 'trd', 'stl', 'acc', 'wdr', 'evt', 'doc', 'wal', 'lot', 'iss', 'rsv', 'lop', 'pol', 'pch', 'dst'] as const;
export type IdPrefix = (typeof ID_PREFIXES)[number];

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/** Opaque id with a type prefix; time-ordered (48-bit ms) then 80 random bits, so indexes stay append-mostly. */
export function newId(prefix: IdPrefix): string {
  let t = BigInt(Date.now());
  let time = '';
  for (let i = 0; i < 10; i++) { time = ALPHABET[Number(t & 31n)] + time; t >>= 5n; }
  const r = randomBytes(10);
  let rand = '';
  let acc = 0n;
  for (const b of r) acc = (acc << 8n) | BigInt(b);
  for (let i = 0; i < 16; i++) { rand = ALPHABET[Number(acc & 31n)] + rand; acc >>= 5n; }
  return `${prefix}_${time}${rand}`;
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return new RegExp(`^${prefix}_[0-9a-z]{26}$`).test(id);
}
