import { randomFillSync } from 'node:crypto';

export const ID_PREFIXES = ['tok', 'inv', 'ord', 'trd', 'stl', 'acc', 'wdr', 'evt', 'doc', 'wal', 'lot', 'iss', 'rsv', 'lop', 'pol', 'pch', 'dst', 'swp', 'vot', 'blt', 'spl', 'dis', 'ent', 'red'] as const;
export type IdPrefix = (typeof ID_PREFIXES)[number];

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

// Random bytes drawn a page at a time: one call into the CSPRNG per 409 ids rather than per id (order entry makes several ids per order).
const pool = Buffer.allocUnsafe(4096);
let used = pool.length;

/** 8 base32 characters of 40 random bits (exact in a double). */
function random40(): string {
  if (used + 5 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  let n = pool.readUIntBE(used, 5);
  used += 5;
  let out = '';
  for (let i = 0; i < 8; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/** Opaque id with a type prefix; time-ordered (48-bit ms) then 80 random bits, so indexes stay append-mostly. */
export function newId(prefix: IdPrefix): string {
  let t = Date.now();
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return `${prefix}_${time}${random40()}${random40()}`;
}
