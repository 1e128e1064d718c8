import type { Db } from '../kit/db/types.js';
import { appError, badInput, forbidden } from '../kit/errors.js';
import { parseAccountId, parseAmount, parseAsset, parseIdempotencyKey, parseMove, parseText } from './inputs.js';
import { ledgerList, runLedger, type ChangeResult, type ReserveResult } from './ledger.js';
import type { LedgerOp } from './domain/ledger-plan.js';

/**
 * Custody's ledger side of delivery versus payment (internal.ts serves the calls):
 *
 * - `adoptReservation`: settlement takes over, atomically, the part of a trading
 *   reservation a fill used (released from trading's, reserved under settlement's key).
 * - `holdMany`: many holds (reservations or adoptions) in one transaction.
 * - `bookSettlement` / `bookSettlements`: once the chain settled, the books follow in ONE
 *   transaction: the caller's reservations consumed and the counter-assets credited.
 *
 * (What the wallets sign for DvP is dvp-signing.ts.)
 */

/** Settlement may take over trading's reservations; nobody else may take anyone's. */
const ADOPTERS: Record<string, readonly string[]> = { settlement: ['trading'] };

interface AdoptInput { fromService: string; reservationKey: string; amount: bigint; idempotencyKey: string; reason: string }

function parseAdopt(service: string, b: Record<string, unknown>): AdoptInput {
  const fromService = String(b.fromService ?? '');
  if (!ADOPTERS[service]?.includes(fromService)) throw forbidden(`service ${service} may not take over reservations of ${JSON.stringify(fromService).slice(0, 40)}`);
  return {
    fromService, reservationKey: parseIdempotencyKey(b.reservationKey, 'reservationKey'), amount: parseAmount(b.amount),
    idempotencyKey: parseIdempotencyKey(b.idempotencyKey), reason: parseText(b.reason, 'reason'),
  };
}

/**
 * An adoption as ledger operations: the part released from the other service's reservation (under a key derived
 * from the caller's, so a replay moves nothing) and held again under the caller's key, on the same balance.
 */
const adoptOps = (service: string, i: AdoptInput): LedgerOp[] => [
  { kind: 'RELEASE', service: i.fromService, ref: { reservationKey: i.reservationKey }, amount: i.amount, key: `adopted-by:${service}:${i.idempotencyKey}` },
  { kind: 'RESERVE_LIKE', service, like: { service: i.fromService, ref: { reservationKey: i.reservationKey } }, amount: i.amount, key: i.idempotencyKey, reason: i.reason },
];

/** Takes over part of another service's reservation as the caller's own (calls.custody adoptReservation). */
export async function adoptReservation(db: Db, service: string, b: Record<string, unknown>): Promise<ReserveResult> {
  const i = parseAdopt(service, b);
  const [o] = await db.tx((q) => runLedger(q, [adoptOps(service, i)]));
  if (!o.ok) throw o.error;
  return o.results[1] as ReserveResult;
}

/** An item's own transaction failed for the moment (ledger.ts itemFailure): nothing was done, asked again it may be. */
const holdFailed = () => appError('CUSTODY.HOLD_FAILED', 'the hold could not be recorded; nothing was held', { retryable: true });
const bookingFailed = () => appError('CUSTODY.BOOKING_FAILED', 'the booking could not be recorded; nothing was booked', { retryable: true });

/** A parsed list item back in the shape custody's own parsers check (amounts as decimal strings). */
export const raw = (o: object): Record<string, unknown> => JSON.parse(JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;

/**
 * Many holds in one transaction (calls.custody.holdMany). Every item is checked
 * as the single calls check it before anything is held: a malformed item, or
 * an adoption from a service the caller may not take from, refuses the whole list.
 */
export async function holdMany(db: Db, service: string, holds: readonly Record<string, unknown>[]) {
  const items = holds.map((h): LedgerOp[] => {
    if (h.kind === 'ADOPT') return adoptOps(service, parseAdopt(service, h));
    const m = parseMove(h);
    return [{ kind: 'RESERVE', service, accountId: m.accountId, asset: m.asset, amount: m.amount, key: m.idempotencyKey, reason: m.reason }];
  });
  return { results: await ledgerList(db, items, (r) => r[r.length - 1] as ReserveResult, holdFailed) };
}

interface Booking { key: string; reason: string; consume: { reservationKey: string; amount: bigint }[]; credit: { accountId: string; asset: string; amount: bigint }[] }

function parseBooking(b: Record<string, unknown>): Booking {
  const key = parseIdempotencyKey(b.idempotencyKey);
  const reason = parseText(b.reason, 'reason');
  const list = (v: unknown, f: string) => {
    if (!Array.isArray(v) || v.length > 64) throw badInput('INVALID_BOOKING', `${f} must be a list of at most 64 entries`);
    return v.map((x) => (x ?? {}) as Record<string, unknown>);
  };
  const consume = list(b.consume, 'consume').map((c, i) => ({ reservationKey: parseIdempotencyKey(c.reservationKey, `consume[${i}].reservationKey`), amount: parseAmount(c.amount, `consume[${i}].amount`) }));
  const credit = list(b.credit, 'credit').map((c) => ({ accountId: parseAccountId(c.accountId), asset: parseAsset(c.asset), amount: parseAmount(c.amount) }));
  if (!consume.length && !credit.length) throw badInput('INVALID_BOOKING', 'nothing to book');
  return { key, reason, consume, credit };
}

/** A booking as ledger operations, all or nothing: the caller's reservations consumed and accounts credited, each part idempotent under the caller's key. */
const bookingOps = (service: string, bk: Booking): LedgerOp[] => [
  ...bk.consume.map((c, i): LedgerOp => ({ kind: 'CONSUME', service, ref: { reservationKey: c.reservationKey }, amount: c.amount, key: `${bk.key}:consume:${i}` })),
  ...bk.credit.map((c, i): LedgerOp => ({ kind: 'CREDIT', service, accountId: c.accountId, asset: c.asset, amount: c.amount, key: `${bk.key}:credit:${i}`, reason: bk.reason })),
];
const bookingResult = (bk: Booking) => (r: unknown[]) => ({ consumed: r.slice(0, bk.consume.length) as ChangeResult[], credited: r.slice(bk.consume.length) as ChangeResult[] });

/** Consumes reservations and credits accounts in one transaction. */
export async function bookSettlement(db: Db, service: string, b: Record<string, unknown>): Promise<{ consumed: ChangeResult[]; credited: ChangeResult[] }> {
  const bk = parseBooking(b);
  const [o] = await db.tx((q) => runLedger(q, [bookingOps(service, bk)]));
  if (!o.ok) throw o.error;
  return bookingResult(bk)(o.results);
}

/**
 * Bookings of many settled trades in one transaction (calls.custody.bookSettlements): one refused booking leaves
 * nothing and fails alone. A booking the books cannot take (a credit past the largest balance they hold) is refused
 * with its own code, not retryable; only a failure of the moment is CUSTODY.BOOKING_FAILED, retryable.
 */
export async function bookSettlements(db: Db, service: string, bookings: readonly Record<string, unknown>[]) {
  const parsed = bookings.map(parseBooking);
  return { results: await ledgerList(db, parsed.map((bk) => bookingOps(service, bk)), (r, i) => bookingResult(parsed[i])(r), bookingFailed) };
}
