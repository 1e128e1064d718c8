/**
 * Whether a DvP consent may be signed: everything the wallet pays in the batch
 * is covered by open reservations the caller holds on the account (pure: the
 * rows are read before, the signature made after; dvp-signing.ts).
 */

export interface ConsentLeg { token: string; from: string; to: string; amount: bigint }
/** A reservation named by one of the caller's keys; `token` is its asset's contract (lower case), null when it has none. */
export interface HeldReservation { id: string; accountId: string; asset: string; open: boolean; remaining: bigint; token: string | null }

export interface Refusal { code: string; message: string; details: Record<string, unknown> }
export interface Covered {
  reservationIds: string[];
  /** What the wallet pays, per asset (and its token contract). */
  paying: { asset: string; token: string; amount: bigint }[];
  /** What the wallet receives, per token contract (lower case). */
  receiving: Map<string, bigint>;
}

const sumBy = (legs: readonly ConsentLeg[], side: (l: ConsentLeg) => boolean) => {
  const m = new Map<string, bigint>();
  for (const l of legs) if (side(l)) m.set(l.token.toLowerCase(), (m.get(l.token.toLowerCase()) ?? 0n) + l.amount);
  return m;
};

/** `held[i]` is the reservation under `keys[i]` (undefined: none). Checked in the order the single call checked. */
export function coverConsent(accountId: string, wallet: string, keys: readonly string[], held: readonly (HeldReservation | undefined)[], legs: readonly ConsentLeg[]): Covered | Refusal {
  const cover = new Map<string, { asset: string; remaining: bigint }>();
  for (const [i, key] of keys.entries()) {
    const r = held[i];
    if (!r) return { code: 'CUSTODY.UNKNOWN_RESERVATION', message: `no reservation under key ${key}`, details: { reservationKey: key } };
    if (r.accountId !== accountId) return { code: 'CUSTODY.CONSENT_NOT_COVERED', message: `reservation ${key} is on another account`, details: { reservationKey: key } };
    if (!r.open) return { code: 'CUSTODY.CONSENT_NOT_COVERED', message: `reservation ${key} is closed`, details: { reservationKey: key } };
    if (!r.token) return { code: 'CUSTODY.ASSET_NOT_ON_CHAIN', message: `asset ${r.asset} has no registered contract address`, details: { asset: r.asset } };
    cover.set(r.token, { asset: r.asset, remaining: (cover.get(r.token)?.remaining ?? 0n) + r.remaining });
  }
  const paying = sumBy(legs, (l) => l.from === wallet);
  if (paying.size === 0) return { code: 'CUSTODY.CONSENT_NOT_COVERED', message: `wallet ${wallet} pays nothing in this batch`, details: {} };
  for (const [token, amount] of paying) {
    const had = cover.get(token)?.remaining ?? 0n;
    if (had < amount) {
      return { code: 'CUSTODY.CONSENT_NOT_COVERED', message: `the batch takes ${amount} of ${token} from ${wallet}; the given reservations hold ${had}`,
        details: { token, amount: amount.toString(), reserved: had.toString() } };
    }
  }
  return {
    reservationIds: held.map((r) => r!.id),
    paying: [...paying].map(([token, amount]) => ({ asset: cover.get(token)!.asset, token, amount })),
    receiving: sumBy(legs, (l) => l.to === wallet),
  };
}
