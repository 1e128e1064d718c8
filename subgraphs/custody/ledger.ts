import { isTransientDbError, pgCode, type Db, type Queryable } from '../kit/db/types.js';
import { appError, errorCode } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { appendEvent } from '../kit/outbox.js';
import { PendingEvents } from './events.js';
import { newId } from '../kit/ids.js';
import { Coalescer } from '../kit/coalesce.js';
import { itemError, settleItem } from '../kit/contracts/calls.js';
import type { Item } from '../kit/contracts/wire.js';
import * as store from './store/ledger.js';
import type { BalanceRow, LedgerKind, ReservationRow } from './store/ledger.js';
import { unknownAccount, unknownAsset } from './services.js';
import {
  balKey, balOf, claimOf, decideLedger, LedgerRefusal, opKey, refError, refKey, reservationJson,
  type Bal, type BalanceJson, type ChangeResult, type LedgerOp, type OpState, type ReservationJson, type ReservationRef, type ReserveResult,
} from './domain/ledger-plan.js';

/**
 * The balances ledger: credit, debit, reserve, release, consume. Each
 * operation is idempotent per (calling service, idempotencyKey), changes the
 * balance row, appends a journal entry and an outbox event in one
 * transaction. Results are JSON (amounts as decimal strings): they are stored
 * for replays and sent as they are over internal RPC.
 *
 * Every operation, alone or in a list of any length, runs the same way
 * (runLedger): the rows it needs are read and locked with one statement per
 * kind, domain/ledger-plan.ts decides each item in order, and everything is written
 * with one statement; a list costs a few round trips whatever its length.
 */

export type { BalanceJson, ChangeResult, ReservationJson, ReservationRef, ReserveResult } from './domain/ledger-plan.js';
export { OWN_SERVICE, reservationJson } from './domain/ledger-plan.js';

/** The plan's refusal as the typed error callers answer with (the plan itself knows no GraphQL). */
const typed = (e: Error): Error => (e instanceof LedgerRefusal ? appError(e.code, e.message, { details: e.details }) : e);

export interface ReserveInput { accountId: string; asset: string; amount: bigint; idempotencyKey: string; reason: string }
export interface MoveInput { accountId: string; asset: string; amount: bigint; idempotencyKey: string; reason: string }
export interface ReleaseInput { ref: ReservationRef; amount?: bigint; idempotencyKey?: string }
export interface ConsumeInput { ref: ReservationRef; amount: bigint; idempotencyKey: string }

export const balanceJson = (b: BalanceRow): BalanceJson => ({
  accountId: b.account_id, asset: b.asset, total: b.total, reserved: b.reserved,
  available: (BigInt(b.total) - BigInt(b.reserved)).toString(),
});

export type LedgerOutcome = { ok: true; results: unknown[] } | { ok: false; error: Error };

const hashOf = (kind: LedgerKind, content: unknown) => requestHash({ kind, content });

/**
 * Runs items of ledger operations in the caller's transaction, each item all or nothing, in the order given:
 * an item refused (short, unknown account, a key reused for other content, ...) is answered with its typed
 * error and leaves nothing behind, the others are kept; a replayed operation answers its stored result.
 * Events go to `events` when given (the caller appends them), else are appended here at the end.
 */
export async function runLedger(q: Queryable, items: readonly (readonly LedgerOp[])[], events?: PendingEvents): Promise<LedgerOutcome[]> {
  const ops = items.flat();
  // 1. The reservations the operations name: by key through the stored operation, then locked in id order.
  const refs = new Map<string, { service: string; ref: ReservationRef }>();
  for (const op of ops) {
    if (op.kind === 'RELEASE' || op.kind === 'CONSUME') refs.set(refKey(op.service, op.ref), { service: op.service, ref: op.ref });
    if (op.kind === 'RESERVE_LIKE') refs.set(refKey(op.like.service, op.like.ref), op.like);
  }
  const byKey = [...refs.values()].flatMap((r) => ('reservationKey' in r.ref ? [{ service: r.service, key: r.ref.reservationKey }] : []));
  const stored = new Map((await store.operationsByKeys(q, byKey)).map((o) => [opKey(o.service, o.idempotency_key), o]));
  const named = (r: { service: string; ref: ReservationRef }) => {
    if ('reservationId' in r.ref) return { id: r.ref.reservationId, op: undefined };
    const op = stored.get(opKey(r.service, r.ref.reservationKey));
    return { id: op?.kind === 'RESERVE' ? (op.result as ReserveResult | null)?.reservation.reservationId : undefined, op };
  };
  const ids = [...new Set([...refs.values()].flatMap((r) => named(r).id ?? []))];
  const reservations = new Map((await store.reservationsForUpdate(q, ids)).map((r) => [r.id, r]));
  const keyRefs = new Map<string, { id?: string; error?: Error }>();
  for (const [k, r] of refs) {
    const { id, op } = named(r);
    const row = id ? reservations.get(id) : undefined;
    const error = refError(r.service, r.ref, op, row);
    keyRefs.set(k, error ? { error } : { id });
  }

  // 2. The idempotency claims, in (service, key) order; what is not claimed here is stored (a replay) or refused.
  const claims = items.map((its) => its.map((op) => claimOf(op, { reservations, keyRefs }, hashOf)));
  const wanted = new Map<string, { id: string; service: string; key: string; kind: LedgerKind; hash: string }>();
  for (const c of claims.flat()) if (!(c instanceof Error) && !wanted.has(opKey(c.service, c.key))) wanted.set(opKey(c.service, c.key), { id: newId('lop'), ...c });
  const opStates = new Map<string, OpState>();
  for (const c of await store.claimOperations(q, [...wanted.values()])) opStates.set(opKey(c.service, c.idempotency_key), { id: c.id, mine: true });
  const prior = [...wanted].filter(([k]) => !opStates.has(k)).map(([, c]) => c);
  for (const o of await store.operationsByKeys(q, prior)) {
    opStates.set(opKey(o.service, o.idempotency_key), { id: o.id, mine: false, done: { kind: o.kind, hash: o.request_hash, result: o.result } });
  }

  // 3. The balances the new operations move, locked (and opened for a first credit) in (account, asset) order.
  const targets = new Map<string, { accountId: string; asset: string }>();
  const flatClaims = claims.flat();
  ops.forEach((op, n) => {
    const c = flatClaims[n];
    if (c instanceof Error || opStates.get(opKey(c.service, c.key))?.done) return; // refused, or a replay: moves nothing
    const t = balanceTarget(op, reservations, keyRefs);
    if (t) targets.set(balKey(t.accountId, t.asset), t);
  });
  const balances = new Map<string, Bal>();
  const created = new Set<string>();
  for (const b of await store.lockBalances(q, [...targets.values()])) {
    balances.set(balKey(b.account_id, b.asset), balOf(b));
    if (b.created) created.add(balKey(b.account_id, b.asset));
  }
  const missing = [...targets].filter(([k]) => !balances.has(k)).map(([, t]) => t);
  const known = missing.length ? await store.existing(q, missing.map((t) => t.accountId), missing.map((t) => t.asset)) : { accounts: new Set<string>(), assets: new Set<string>() };

  // 4. Decide in memory, write in one statement, append the events.
  const plan = decideLedger(items, claims, { reservations, keyRefs, ops: opStates, balances, created, knownAccounts: known.accounts, knownAssets: known.assets });
  await store.writeLedger(q, plan);
  const out = events ?? new PendingEvents();
  for (const e of plan.events) out.add(e.topic, e.key, e.payload);
  if (!events) await out.appendTo(q);
  return plan.outcomes.map((o) => (o.ok ? o : { ok: false as const, error: typed(o.error) }));
}

function balanceTarget(op: LedgerOp, reservations: Map<string, ReservationRow>, keyRefs: Map<string, { id?: string }>): { accountId: string; asset: string } | undefined {
  if ('accountId' in op) return { accountId: op.accountId, asset: op.asset };
  const r = 'like' in op ? keyRefs.get(refKey(op.like.service, op.like.ref)) : keyRefs.get(refKey(op.service, op.ref));
  const row = r?.id ? reservations.get(r.id) : undefined;
  return row ? { accountId: row.account_id, asset: row.asset } : undefined;
}

/** One operation in the caller's transaction: its result, or its typed error thrown. */
async function runOne<R>(q: Queryable, op: LedgerOp, events?: PendingEvents): Promise<R> {
  const [o] = await runLedger(q, [[op]], events);
  if (!o.ok) throw o.error;
  return o.results[0] as R;
}

/**
 * Why an item's own transaction failed, as its answer: a typed error as it is (a lost connection is a retryable
 * DATABASE.UNAVAILABLE), a failure of the moment (serialization, deadlock, lock timeout) the caller's retryable
 * `failed`, anything else CUSTODY.LEDGER_REFUSED, not retryable: the same statements would fail the same way again.
 */
export function itemFailure(e: unknown, failed: () => Error): Error {
  if (errorCode(e)) return e as Error;
  if (isTransientDbError(e)) return failed();
  return appError('CUSTODY.LEDGER_REFUSED', 'the books refused this item; asked again it would be refused again', { details: { sqlstate: pgCode(e) ?? null } });
}

/**
 * A list in its own transaction, each item's outcome as a wire item. If the transaction itself fails, each item is
 * retried alone (one bad item cannot fail the rest), and an item whose own transaction fails is answered with
 * itemFailure.
 */
export async function ledgerList<R>(db: Db, items: readonly (readonly LedgerOp[])[], shape: (results: unknown[], index: number) => R, failed: () => Error): Promise<Item<R>[]> {
  const answer = (o: LedgerOutcome, i: number) => settleItem(async () => {
    if (!o.ok) throw o.error;
    return shape(o.results, i);
  });
  const alone = (it: readonly LedgerOp[], i: number) => settleItem(async () => {
    const [o] = await db.tx((q) => runLedger(q, [it])).catch((x: unknown) => {
      throw itemFailure(x, failed);
    });
    if (!o.ok) throw o.error;
    return shape(o.results, i);
  });
  try {
    return await Promise.all((await db.tx((q) => runLedger(q, items))).map(answer));
  } catch (e) {
    if (items.length === 1) return [await settleItem(async () => { throw itemFailure(e, failed); })];
    const out: Item<R>[] = [];
    for (const [i, it] of items.entries()) out.push(await alone(it, i));
    return out;
  }
}

const reserveOp = (service: string, i: ReserveInput): LedgerOp =>
  ({ kind: 'RESERVE', service, accountId: i.accountId, asset: i.asset, amount: i.amount, key: i.idempotencyKey, reason: i.reason });

/** Reserve inside the caller's transaction (withdrawals reserve together with their own row). */
export const reserveIn = (q: Queryable, service: string, i: ReserveInput, events?: PendingEvents) => runOne<ReserveResult>(q, reserveOp(service, i), events);

/** Releases all (amount omitted) or part of what a reservation still holds. */
export const releaseIn = (q: Queryable, service: string, i: ReleaseInput, events?: PendingEvents) =>
  runOne<ChangeResult>(q, { kind: 'RELEASE', service, ref: i.ref, amount: i.amount, key: i.idempotencyKey }, events);

/** Settlement of reserved funds: total and reserved fall together. */
export const consumeIn = (q: Queryable, service: string, i: ConsumeInput, events?: PendingEvents) =>
  runOne<ChangeResult>(q, { kind: 'CONSUME', service, ref: i.ref, amount: i.amount, key: i.idempotencyKey }, events);

export const creditIn = (q: Queryable, service: string, i: MoveInput, events?: PendingEvents) =>
  runOne<ChangeResult>(q, { kind: 'CREDIT', service, accountId: i.accountId, asset: i.asset, amount: i.amount, key: i.idempotencyKey, reason: i.reason }, events);

/** Debits free funds only; reserved funds leave through consume. */
export const debitIn = (q: Queryable, service: string, i: MoveInput, events?: PendingEvents) =>
  runOne<ChangeResult>(q, { kind: 'DEBIT', service, accountId: i.accountId, asset: i.asset, amount: i.amount, key: i.idempotencyKey, reason: i.reason }, events);

export interface ServiceReserve { service: string; input: ReserveInput }

const reservationFailed = () => appError('CUSTODY.RESERVATION_FAILED', 'the reservation could not be recorded; nothing was reserved', { retryable: true });

/** Many reservations in ONE transaction: a result or its own typed error per item, in order. */
const reserveMany = (db: Db, items: readonly ServiceReserve[]): Promise<Item<ReserveResult>[]> =>
  ledgerList(db, items.map((it) => [reserveOp(it.service, it.input)]), (r) => r[0] as ReserveResult, reservationFailed);

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

async function knownAccountAndAsset(q: Queryable, accountId: string, asset: string): Promise<void> {
  if (!(await store.accountOwner(q, accountId))) throw unknownAccount(accountId);
  if (!(await store.assetById(q, asset))) throw unknownAsset(asset);
}

/** A reservation the caller may see, by id or by the key it was made with. */
async function reservationFor(q: Queryable, service: string, ref: ReservationRef): Promise<ReservationRow> {
  const op = 'reservationKey' in ref ? await store.operationByKey(q, service, ref.reservationKey) : undefined;
  const id = 'reservationId' in ref ? ref.reservationId : op?.kind === 'RESERVE' ? (op.result as ReserveResult | null)?.reservation.reservationId : undefined;
  const r = id ? await store.reservationById(q, id) : null;
  const error = refError(service, ref, op ?? undefined, r ?? undefined);
  if (error) throw typed(error);
  return r!;
}

/** The ledger as a service: each call its own transaction. */
export const ledger = {
  /** Shares a transaction with the reservations made at the same time in this process (one list). */
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
    return reservationJson(await reservationFor(db, service, ref));
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
