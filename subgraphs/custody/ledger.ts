import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput, errorCode } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { appendEvent } from '../kit/outbox.js';
import { PendingEvents } from './events.js';
import { newId } from '../kit/ids.js';
import { Coalescer } from '../kit/coalesce.js';
import { itemError, settleItem } from '../kit/contracts/calls.js';
import type { Item } from '../kit/contracts/wire.js';
import * as store from './store-ledger.js';
import type { BalanceRow, LedgerKind, ReservationRow } from './store-ledger.js';

/**
 * The balances ledger: credit, debit, reserve, release, consume. Each
 * operation is idempotent per (calling service, idempotencyKey), changes the
 * balance row, appends a journal entry and an outbox event in one
 * transaction. Results are JSON (amounts as decimal strings): they are stored
 * for replays and sent as they are over internal RPC.
 */

export interface BalanceJson { accountId: string; asset: string; total: string; reserved: string; available: string }
export interface ReservationJson {
  reservationId: string; accountId: string; asset: string; amount: string; released: string; consumed: string;
  remaining: string; status: 'OPEN' | 'CLOSED'; reason: string;
}
export interface ReserveResult { reservation: ReservationJson; balance: BalanceJson }
export interface ChangeResult { operationId: string; balance: BalanceJson; reservation?: ReservationJson }

export interface ReserveInput { accountId: string; asset: string; amount: bigint; idempotencyKey: string; reason: string }
export interface MoveInput { accountId: string; asset: string; amount: bigint; idempotencyKey: string; reason: string }
/** Which reservation: by id, or by the idempotency key the same service reserved it with. */
export type ReservationRef = { reservationId: string } | { reservationKey: string };
export interface ReleaseInput { ref: ReservationRef; amount?: bigint; idempotencyKey?: string }
export interface ConsumeInput { ref: ReservationRef; amount: bigint; idempotencyKey: string }

export const balanceJson = (b: BalanceRow): BalanceJson => ({
  accountId: b.account_id, asset: b.asset, total: b.total, reserved: b.reserved,
  available: (BigInt(b.total) - BigInt(b.reserved)).toString(),
});

export const reservationJson = (r: ReservationRow): ReservationJson => ({
  reservationId: r.id, accountId: r.account_id, asset: r.asset, amount: r.amount, released: r.released, consumed: r.consumed,
  remaining: (BigInt(r.amount) - BigInt(r.released) - BigInt(r.consumed)).toString(), status: r.status, reason: r.reason,
});

/** The service name under which custody's own workflows (withdrawals) reserve. */
export const OWN_SERVICE = 'custody';

const remainingOf = (r: ReservationRow) => BigInt(r.amount) - BigInt(r.released) - BigInt(r.consumed);

async function knownAccountAndAsset(q: Queryable, accountId: string, asset: string): Promise<void> {
  if (!(await store.accountOwner(q, accountId))) throw appError('CUSTODY.UNKNOWN_ACCOUNT', `custody account ${accountId} does not exist`, { details: { accountId } });
  if (!(await store.assetById(q, asset))) throw appError('CUSTODY.UNKNOWN_ASSET', `custody holds no asset ${asset}`, { details: { asset } });
}

/**
 * Runs one operation under its idempotency claim: a replay returns the stored
 * result, a new one runs `work`, stores its result and appends its events.
 */
async function once<R>(q: Queryable, service: string, key: string, kind: LedgerKind, content: unknown,
  work: (operationId: string, events: PendingEvents) => Promise<R>): Promise<R> {
  const { row, created } = await store.claimOperation(q, { id: newId('lop'), service, key, kind, hash: requestHash({ kind, content }) });
  if (!created) return row.result as R;
  const events = new PendingEvents();
  const result = await work(row.id, events);
  await store.saveOperationResult(q, row.id, result);
  await events.appendTo(q);
  return result;
}

const insufficient = (available: bigint, amount: bigint, accountId: string, asset: string) =>
  appError('CUSTODY.INSUFFICIENT_AVAILABLE', `available ${available} is less than ${amount}`, {
    details: { accountId, asset, available: available.toString(), requested: amount.toString() },
  });

/**
 * Reserve inside the caller's transaction (withdrawals reserve together with their own row; a batch of
 * reservations shares one). The balance row is touched first: when it exists the account and asset do too, so
 * the happy path is four statements (claim, conditional UPDATE, reservation with its journal entry, result).
 */
export async function reserveIn(q: Queryable, service: string, i: ReserveInput, events?: PendingEvents): Promise<ReserveResult> {
  return once(q, service, i.idempotencyKey, 'RESERVE', { accountId: i.accountId, asset: i.asset, amount: i.amount, reason: i.reason }, async (opId, own) => {
    const after = await store.reserveIfAvailable(q, i.accountId, i.asset, i.amount);
    if (!after) {
      // Nothing was written but the claim: drop it, so that a batch sharing this transaction can go on.
      await store.dropOperation(q, opId);
      await knownAccountAndAsset(q, i.accountId, i.asset);
      const b = await store.balanceOf(q, i.accountId, i.asset);
      throw insufficient(b ? BigInt(b.total) - BigInt(b.reserved) : 0n, i.amount, i.accountId, i.asset);
    }
    const r = await store.insertReservationWithEntry(q, { id: newId('rsv'), accountId: i.accountId, asset: i.asset, amount: i.amount, reason: i.reason, service, operationId: opId, after });
    const result = { reservation: reservationJson(r), balance: balanceJson(after) };
    (events ?? own).add('balance.reserved', i.accountId, { operationId: opId, service, ...result });
    return result;
  });
}

export interface ServiceReserve { service: string; input: ReserveInput }

/**
 * Many reservations in ONE transaction (group commit: one commit and one outbox append for all). Each is
 * decided as `reserveIn` decides it, in the order given per balance (balances are locked in one global order,
 * so two batches cannot deadlock on them); a refusal is that item's typed error and the others go on.
 */
export async function reserveManyIn(q: Queryable, items: readonly ServiceReserve[]): Promise<Item<ReserveResult>[]> {
  const events = new PendingEvents();
  const lockOrder = items.map((_, k) => k).sort((a, b) => {
    const x = items[a].input;
    const y = items[b].input;
    return x.accountId < y.accountId ? -1 : x.accountId > y.accountId ? 1 : x.asset < y.asset ? -1 : x.asset > y.asset ? 1 : a - b;
  });
  const out: Item<ReserveResult>[] = new Array(items.length);
  for (const k of lockOrder) out[k] = await settleItem(() => reserveIn(q, items[k].service, items[k].input, events));
  await events.appendTo(q);
  // An item whose statement failed (rather than its check) aborted the transaction, and COMMIT would only roll it
  // back: fail the batch here instead, so that no item is answered as done (each is then retried alone).
  await q.query('SELECT 1');
  return out;
}

/** A batch in its own transaction; if the transaction itself fails, each item is retried alone (one bad item cannot fail the rest). */
async function reserveMany(db: Db, items: readonly ServiceReserve[]): Promise<Item<ReserveResult>[]> {
  try {
    return await db.tx((q) => reserveManyIn(q, items));
  } catch (e) {
    if (items.length === 1) throw e;
    const out: Item<ReserveResult>[] = [];
    for (const it of items) {
      out.push(await settleItem(() => db.tx((q) => reserveIn(q, it.service, it.input)).catch((x: unknown) => {
        throw errorCode(x) ? x : appError('CUSTODY.RESERVATION_FAILED', 'the reservation could not be recorded; nothing was reserved', { retryable: true });
      })));
    }
    return out;
  }
}

/** Concurrent reservations of one process leave together: a batch per transaction, at most two transactions at once. */
export const RESERVE_BATCHING = { maxBatch: 200, maxInFlight: 2 };
const reservers = new WeakMap<Db, Coalescer<ServiceReserve, ReserveResult>>();
function reserver(db: Db): Coalescer<ServiceReserve, ReserveResult> {
  let c = reservers.get(db);
  if (!c) {
    c = new Coalescer<ServiceReserve, ReserveResult>(async (items) => (await reserveMany(db, items)).map((x) => (x.ok ? x.value : itemError('custody', x.error))), RESERVE_BATCHING);
    reservers.set(db, c);
  }
  return c;
}

async function lockReservation(q: Queryable, service: string, ref: ReservationRef): Promise<ReservationRow> {
  let id: string | undefined;
  if ('reservationId' in ref) id = ref.reservationId;
  else {
    const op = await store.operationByKey(q, service, ref.reservationKey);
    if (op && op.kind !== 'RESERVE') throw badInput('INVALID_RESERVATION_KEY', `key "${ref.reservationKey}" was used for a ${op.kind.toLowerCase()}, not a reservation`);
    id = (op?.result as ReserveResult | null)?.reservation.reservationId;
  }
  const r = id ? await store.reservationById(q, id, { forUpdate: true }) : null;
  if (!r) throw appError('CUSTODY.UNKNOWN_RESERVATION', 'no such reservation', { details: { ...ref } });
  // Withdrawals hold custody's own reservations: only custody's workflow may move them.
  if (r.service === OWN_SERVICE && service !== OWN_SERVICE) {
    throw appError('CUSTODY.RESERVATION_NOT_YOURS', `reservation ${r.id} belongs to a withdrawal; reject the withdrawal instead`, { details: { reservationId: r.id } });
  }
  return r;
}

/** Releases all (amount omitted) or part of what a reservation still holds. */
export async function releaseIn(q: Queryable, service: string, i: ReleaseInput, events?: PendingEvents): Promise<ChangeResult> {
  if (i.amount !== undefined && i.idempotencyKey === undefined) {
    throw badInput('IDEMPOTENCY_KEY_REQUIRED', 'a partial release (with amount) needs an idempotencyKey');
  }
  // A full release is idempotent by nature: its default key is derived from the reservation.
  const target = await lockReservation(q, service, i.ref);
  const key = i.idempotencyKey ?? `release-all:${target.id}`;
  return once(q, service, key, 'RELEASE', { reservationId: target.id, amount: i.amount ?? 'ALL' }, async (opId, own) => {
    const remaining = remainingOf(target);
    const amount = i.amount ?? remaining;
    if (amount > remaining) {
      throw appError('CUSTODY.EXCEEDS_RESERVATION', `release of ${amount} exceeds the ${remaining} the reservation still holds`, { details: { reservationId: target.id, remaining: remaining.toString() } });
    }
    if (amount === 0n) {
      const b = await store.balanceOf(q, target.account_id, target.asset);
      return { operationId: opId, balance: balanceJson(b!), reservation: reservationJson(target) };
    }
    const after = await store.unreserve(q, target.account_id, target.asset, amount, false);
    const r = await store.addToReservation(q, target.id, { released: amount, consumed: 0n });
    await store.insertLedgerEntry(q, { accountId: r.account_id, asset: r.asset, kind: 'RELEASE', totalDelta: 0n, reservedDelta: -amount, after, reservationId: r.id, operationId: opId, reason: r.reason });
    const result = { operationId: opId, balance: balanceJson(after), reservation: reservationJson(r) };
    (events ?? own).add('balance.released', r.account_id, { service, amount: amount.toString(), ...result });
    return result;
  });
}

/** Settlement of reserved funds: total and reserved fall together. */
export async function consumeIn(q: Queryable, service: string, i: ConsumeInput, events?: PendingEvents): Promise<ChangeResult> {
  const target = await lockReservation(q, service, i.ref);
  return once(q, service, i.idempotencyKey, 'CONSUME', { reservationId: target.id, amount: i.amount }, async (opId, own) => {
    const remaining = remainingOf(target);
    if (i.amount > remaining) {
      throw appError('CUSTODY.EXCEEDS_RESERVATION', `consume of ${i.amount} exceeds the ${remaining} the reservation still holds`, { details: { reservationId: target.id, remaining: remaining.toString() } });
    }
    const after = await store.unreserve(q, target.account_id, target.asset, i.amount, true);
    const r = await store.addToReservation(q, target.id, { released: 0n, consumed: i.amount });
    await store.insertLedgerEntry(q, { accountId: r.account_id, asset: r.asset, kind: 'CONSUME', totalDelta: -i.amount, reservedDelta: -i.amount, after, reservationId: r.id, operationId: opId, reason: r.reason });
    const result = { operationId: opId, balance: balanceJson(after), reservation: reservationJson(r) };
    (events ?? own).add('balance.consumed', r.account_id, { service, amount: i.amount.toString(), ...result });
    return result;
  });
}

export async function creditIn(q: Queryable, service: string, i: MoveInput, pending?: PendingEvents): Promise<ChangeResult> {
  return once(q, service, i.idempotencyKey, 'CREDIT', { accountId: i.accountId, asset: i.asset, amount: i.amount, reason: i.reason }, async (opId, own) => {
    const events = pending ?? own;
    await knownAccountAndAsset(q, i.accountId, i.asset);
    const after = await store.creditTotal(q, i.accountId, i.asset, i.amount);
    await store.insertLedgerEntry(q, { accountId: i.accountId, asset: i.asset, kind: 'CREDIT', totalDelta: i.amount, reservedDelta: 0n, after, reservationId: null, operationId: opId, reason: i.reason });
    const result = { operationId: opId, balance: balanceJson(after) };
    events.add('balance.credited', i.accountId, { service, amount: i.amount.toString(), reason: i.reason, ...result });
    return result;
  });
}

/** Debits free funds only; reserved funds leave through consume. */
export async function debitIn(q: Queryable, service: string, i: MoveInput): Promise<ChangeResult> {
  return once(q, service, i.idempotencyKey, 'DEBIT', { accountId: i.accountId, asset: i.asset, amount: i.amount, reason: i.reason }, async (opId, events) => {
    await knownAccountAndAsset(q, i.accountId, i.asset);
    const after = await store.debitIfAvailable(q, i.accountId, i.asset, i.amount);
    if (!after) {
      const b = await store.balanceOf(q, i.accountId, i.asset);
      throw insufficient(b ? BigInt(b.total) - BigInt(b.reserved) : 0n, i.amount, i.accountId, i.asset);
    }
    await store.insertLedgerEntry(q, { accountId: i.accountId, asset: i.asset, kind: 'DEBIT', totalDelta: -i.amount, reservedDelta: 0n, after, reservationId: null, operationId: opId, reason: i.reason });
    const result = { operationId: opId, balance: balanceJson(after) };
    events.add('balance.debited', i.accountId, { service, amount: i.amount.toString(), reason: i.reason, ...result });
    return result;
  });
}

/** The ledger as a service: each call its own transaction. */
export const ledger = {
  /** Shares a transaction with the reservations made at the same time (see `reserveManyIn`). */
  reserve: (db: Db, service: string, i: ReserveInput) => reserver(db).request({ service, input: i }),
  /** Several reservations of one caller in one transaction; a result or a typed error per item, in order. */
  reserveMany: (db: Db, service: string, items: readonly ReserveInput[]) => reserveMany(db, items.map((input) => ({ service, input }))),
  release: (db: Db, service: string, i: ReleaseInput) => db.tx((q) => releaseIn(q, service, i)),
  consume: (db: Db, service: string, i: ConsumeInput) => db.tx((q) => consumeIn(q, service, i)),
  credit: (db: Db, service: string, i: MoveInput) => db.tx((q) => creditIn(q, service, i)),
  debit: (db: Db, service: string, i: MoveInput) => db.tx((q) => debitIn(q, service, i)),
  async balance(db: Db, accountId: string, asset: string): Promise<BalanceJson> {
    await knownAccountAndAsset(db, accountId, asset);
    const b = await store.balanceOf(db, accountId, asset);
    return b ? balanceJson(b) : { accountId, asset, total: '0', reserved: '0', available: '0' };
  },
  async reservation(db: Db, service: string, ref: ReservationRef): Promise<ReservationJson> {
    return db.tx(async (q) => reservationJson(await lockReservation(q, service, ref)));
  },
  async registerAsset(db: Db, asset: string, contractAddress: string | null): Promise<{ asset: string; contractAddress: string | null }> {
    return db.tx((q) => registerAssetIn(q, asset, contractAddress));
  },
};

/** Records an asset (and its contract, once: a different address is refused), in the caller's transaction. */
export async function registerAssetIn(q: Queryable, asset: string, contractAddress: string | null): Promise<{ asset: string; contractAddress: string | null }> {
  const before = await store.assetById(q, asset);
  if (before?.contract_address && contractAddress && before.contract_address !== contractAddress) {
    throw appError('CUSTODY.ASSET_CONFLICT', `${asset} is already registered at ${before.contract_address}`, { details: { asset } });
  }
  const row = await store.upsertAsset(q, asset, contractAddress);
  if (!before || (!before.contract_address && row.contract_address)) {
    await appendEvent(q, 'asset.registered', asset, { asset, contractAddress: row.contract_address });
  }
  return { asset: row.id, contractAddress: row.contract_address };
}
