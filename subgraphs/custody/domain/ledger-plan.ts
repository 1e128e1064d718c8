import { newId } from '../../kit/ids.js';
import type { BalanceRow, LedgerKind, ReservationRow } from '../store/ledger.js';

/**
 * The decisions of a list of ledger operations, made in memory over the rows
 * the list locked (its balances, its reservations, its idempotency claims),
 * item after item in the order given, exactly as one operation after the
 * other would decide them in SQL. What it decides is then written with one
 * statement per kind of row for the whole list (store/ledger.ts writeLedger),
 * so a list costs the same few round trips whatever its length.
 *
 * An item is one or more operations that stand or fall together (a booking's
 * consumptions and credits, an adoption's release and reservation): the first
 * refusal is the item's error and none of its operations is kept.
 */

/**
 * Why an operation is refused: the code and details its caller answers with
 * (ledger.ts turns it into the typed error the client sees).
 */
export class LedgerRefusal extends Error {
  constructor(readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}
const refusal = (code: string, message: string, details?: Record<string, unknown>) => new LedgerRefusal(code, message, details);

export interface BalanceJson { accountId: string; asset: string; total: string; reserved: string; available: string }
export interface ReservationJson {
  reservationId: string; accountId: string; asset: string; amount: string; released: string; consumed: string;
  remaining: string; status: 'OPEN' | 'CLOSED'; reason: string;
}
export interface ReserveResult { reservation: ReservationJson; balance: BalanceJson }
export interface ChangeResult { operationId: string; balance: BalanceJson; reservation?: ReservationJson }

/** Which reservation: by id, or by the idempotency key the same service reserved it with. */
export type ReservationRef = { reservationId: string } | { reservationKey: string };

/** One ledger operation of a calling service. `like` takes a reservation's account and asset (an adoption's new hold). */
export type LedgerOp =
  | { kind: 'RESERVE'; service: string; accountId: string; asset: string; amount: bigint; key: string; reason: string }
  | { kind: 'RESERVE_LIKE'; service: string; like: { service: string; ref: ReservationRef }; amount: bigint; key: string; reason: string }
  | { kind: 'RELEASE'; service: string; ref: ReservationRef; amount?: bigint; key?: string }
  | { kind: 'CONSUME'; service: string; ref: ReservationRef; amount: bigint; key: string }
  | { kind: 'CREDIT' | 'DEBIT'; service: string; accountId: string; asset: string; amount: bigint; key: string; reason: string };

/** A stored or claimed idempotency row: `done` once an operation under it has a result. */
export interface OpState { id: string; mine: boolean; done?: { kind: LedgerKind; hash: string; result: unknown } }
export interface Bal { total: bigint; reserved: bigint }

/** The locked rows a list is decided over (read with one statement per kind). */
export interface LedgerRows {
  /** Reservation rows by id; and the id each (service, reservationKey) names, or why it names none. */
  reservations: Map<string, ReservationRow>;
  keyRefs: Map<string, { id?: string; error?: Error }>;
  /** Claims and stored operations by `service key`. */
  ops: Map<string, OpState>;
  /** Balance rows by `account asset`; `created` are rows this list opened at zero (credits to a new balance). */
  balances: Map<string, Bal>;
  created: Set<string>;
  /** Accounts and assets that exist, asked only for balances that have no row. */
  knownAccounts: Set<string>;
  knownAssets: Set<string>;
}

export const opKey = (service: string, key: string): string => `${service}\u0000${key}`;
export const balKey = (accountId: string, asset: string): string => `${accountId}\u0000${asset}`;
export const refKey = (service: string, ref: ReservationRef): string => ('reservationId' in ref ? `id\u0000${ref.reservationId}` : opKey(service, ref.reservationKey));

/** The service name under which custody's own workflows (withdrawals) reserve. */
export const OWN_SERVICE = 'custody';

const balanceJson = (accountId: string, asset: string, b: Bal): BalanceJson => ({
  accountId, asset, total: b.total.toString(), reserved: b.reserved.toString(), available: (b.total - b.reserved).toString(),
});

export const reservationJson = (r: ReservationRow): ReservationJson => ({
  reservationId: r.id, accountId: r.account_id, asset: r.asset, amount: r.amount, released: r.released, consumed: r.consumed,
  remaining: (BigInt(r.amount) - BigInt(r.released) - BigInt(r.consumed)).toString(), status: r.status, reason: r.reason,
});

const remainingOf = (r: ReservationRow) => BigInt(r.amount) - BigInt(r.released) - BigInt(r.consumed);

const insufficient = (available: bigint, amount: bigint, accountId: string, asset: string) =>
  refusal('CUSTODY.INSUFFICIENT_AVAILABLE', `available ${available} is less than ${amount}`,
    { accountId, asset, available: available.toString(), requested: amount.toString() });
const unknownAccount = (accountId: string) => refusal('CUSTODY.UNKNOWN_ACCOUNT', `custody account ${accountId} does not exist`, { accountId });
const unknownAsset = (asset: string) => refusal('CUSTODY.UNKNOWN_ASSET', `custody holds no asset ${asset}`, { asset });
/** The largest balance the books can hold: balances and journal totals are numeric(78,0). */
export const BALANCE_MAX = 10n ** 78n - 1n;
const overflow = (b: Bal, amount: bigint, accountId: string, asset: string) =>
  refusal('CUSTODY.BALANCE_OVERFLOW', `crediting ${amount} would take the balance to ${b.total + amount}, past the largest the books can hold (10^78 - 1)`,
    { accountId, asset, total: b.total.toString(), requested: amount.toString() });
const exceeds = (what: string, amount: bigint, r: ReservationRow, remaining: bigint) =>
  refusal('CUSTODY.EXCEEDS_RESERVATION', `${what} of ${amount} exceeds the ${remaining} the reservation still holds`, { reservationId: r.id, remaining: remaining.toString() });

/** Why a reference names no reservation the caller may move (checked where the reservation is read). */
export function refError(service: string, ref: ReservationRef, op: { kind: string } | undefined, r: ReservationRow | undefined): Error | undefined {
  if ('reservationKey' in ref && op && op.kind !== 'RESERVE') {
    return refusal('INPUT.INVALID_RESERVATION_KEY', `key "${ref.reservationKey}" was used for a ${op.kind.toLowerCase()}, not a reservation`);
  }
  if (!r) return refusal('CUSTODY.UNKNOWN_RESERVATION', 'no such reservation', { ...ref });
  // Withdrawals hold custody's own reservations: only custody's workflow may move them.
  if (r.service === OWN_SERVICE && service !== OWN_SERVICE) {
    return refusal('CUSTODY.RESERVATION_NOT_YOURS', `reservation ${r.id} belongs to a withdrawal; reject the withdrawal instead`, { reservationId: r.id });
  }
  return undefined;
}

export interface Entry {
  accountId: string; asset: string; kind: LedgerKind; totalDelta: bigint; reservedDelta: bigint; totalAfter: bigint; reservedAfter: bigint;
  reservationId: string | null; operationId: string; reason: string;
}
export interface PlanEvent { topic: string; key: string; payload: unknown }

/** What a decided list writes: the final rows and what leads to them (entries and events in order). */
export interface LedgerPlan {
  /** Per item: its operations' results, or its error. */
  outcomes: ({ ok: true; results: unknown[] } | { ok: false; error: Error })[];
  /** Balances changed (delta and the expected row after), opened rows left unused (to delete). */
  balances: { accountId: string; asset: string; totalDelta: bigint; reservedDelta: bigint; after: Bal }[];
  unusedBalances: { accountId: string; asset: string }[];
  newReservations: ReservationRow[];
  reservationChanges: { id: string; released: bigint; consumed: bigint; after: ReservationRow }[];
  entries: Entry[];
  /** Claims made by this list: a result to store, or dropped. */
  results: { id: string; kind: LedgerKind; hash: string; result: unknown }[];
  dropped: string[];
  events: PlanEvent[];
}

/** The idempotency key and request hash an operation claims, once its reservation is known. */
export function claimOf(op: LedgerOp, rows: Pick<LedgerRows, 'reservations' | 'keyRefs'>, hash: (kind: LedgerKind, content: unknown) => string):
  { service: string; key: string; kind: LedgerKind; hash: string } | Error {
  switch (op.kind) {
    case 'RESERVE':
      return { service: op.service, key: op.key, kind: 'RESERVE', hash: hash('RESERVE', { accountId: op.accountId, asset: op.asset, amount: op.amount, reason: op.reason }) };
    case 'RESERVE_LIKE': {
      const r = reservationOf(op.like.service, op.like.ref, rows);
      if (r instanceof Error) return r;
      return { service: op.service, key: op.key, kind: 'RESERVE', hash: hash('RESERVE', { accountId: r.account_id, asset: r.asset, amount: op.amount, reason: op.reason }) };
    }
    case 'RELEASE': {
      if (op.amount !== undefined && op.key === undefined) return refusal('INPUT.IDEMPOTENCY_KEY_REQUIRED', 'a partial release (with amount) needs an idempotencyKey');
      const r = reservationOf(op.service, op.ref, rows);
      if (r instanceof Error) return r;
      // A full release is idempotent by nature: its default key is derived from the reservation.
      return { service: op.service, key: op.key ?? `release-all:${r.id}`, kind: 'RELEASE', hash: hash('RELEASE', { reservationId: r.id, amount: op.amount ?? 'ALL' }) };
    }
    case 'CONSUME': {
      const r = reservationOf(op.service, op.ref, rows);
      if (r instanceof Error) return r;
      return { service: op.service, key: op.key, kind: 'CONSUME', hash: hash('CONSUME', { reservationId: r.id, amount: op.amount }) };
    }
    default:
      return { service: op.service, key: op.key, kind: op.kind, hash: hash(op.kind, { accountId: op.accountId, asset: op.asset, amount: op.amount, reason: op.reason }) };
  }
}

function reservationOf(service: string, ref: ReservationRef, rows: Pick<LedgerRows, 'reservations' | 'keyRefs'>): ReservationRow | Error {
  const k = rows.keyRefs.get(refKey(service, ref));
  if (k?.error) return k.error;
  const r = k?.id ? rows.reservations.get(k.id) : undefined;
  return r ?? refusal('CUSTODY.UNKNOWN_RESERVATION', 'no such reservation', { ...ref });
}

/** Changes made by the item being decided, kept apart until the item stands (then merged) or falls (then dropped). */
class Draft {
  readonly balances = new Map<string, Bal>();
  readonly reservations = new Map<string, ReservationRow>();
  readonly ops = new Map<string, OpState>();
  readonly entries: Entry[] = [];
  readonly events: PlanEvent[] = [];
  constructor(private readonly base: LedgerRows) {}
  balance(k: string): Bal | undefined { return this.balances.get(k) ?? this.base.balances.get(k); }
  reservation(id: string): ReservationRow | undefined { return this.reservations.get(id) ?? this.base.reservations.get(id); }
  op(k: string): OpState | undefined { return this.ops.get(k) ?? this.base.ops.get(k); }
}

/**
 * Decides every item in order over `rows` (which it updates as items stand).
 * `claims[i][j]` is what claimOf gave for item i's operation j.
 */
export function decideLedger(items: readonly (readonly LedgerOp[])[], claims: readonly (readonly (ReturnType<typeof claimOf>)[])[], rows: LedgerRows): LedgerPlan {
  const before = { balances: new Map(rows.balances), reservations: new Map(rows.reservations), ops: new Map(rows.ops) };
  const created: ReservationRow[] = [];
  const entries: Entry[] = [];
  const events: PlanEvent[] = [];
  const touched = new Set<string>();
  const outcomes: LedgerPlan['outcomes'] = items.map((ops, i) => {
    const d = new Draft(rows);
    const made: ReservationRow[] = [];
    try {
      const results = ops.map((op, j) => decideOne(op, claims[i][j], d, rows, made));
      for (const [k, v] of d.balances) { rows.balances.set(k, v); touched.add(k); }
      for (const [k, v] of d.reservations) rows.reservations.set(k, v);
      for (const [k, v] of d.ops) rows.ops.set(k, v);
      created.push(...made);
      entries.push(...d.entries);
      events.push(...d.events);
      return { ok: true as const, results };
    } catch (e) {
      if (!(e instanceof LedgerRefusal)) throw e;
      return { ok: false as const, error: e };
    }
  });

  const newIds = new Set(created.map((r) => r.id));
  const plan: LedgerPlan = {
    outcomes, entries, events, balances: [], unusedBalances: [], reservationChanges: [], results: [], dropped: [],
    newReservations: created.map((r) => rows.reservations.get(r.id)!),
  };
  for (const k of touched) {
    const [accountId, asset] = k.split('\u0000');
    const a = rows.balances.get(k)!;
    const b = before.balances.get(k)!;
    plan.balances.push({ accountId, asset, totalDelta: a.total - b.total, reservedDelta: a.reserved - b.reserved, after: a });
  }
  for (const k of rows.created) {
    if (touched.has(k)) continue;
    const [accountId, asset] = k.split('\u0000');
    plan.unusedBalances.push({ accountId, asset });
  }
  for (const [id, a] of rows.reservations) {
    const b = before.reservations.get(id);
    if (newIds.has(id) || !b || a === b) continue;
    plan.reservationChanges.push({ id, released: BigInt(a.released) - BigInt(b.released), consumed: BigInt(a.consumed) - BigInt(b.consumed), after: a });
  }
  for (const s of rows.ops.values()) {
    if (!s.mine) continue;
    if (s.done) plan.results.push({ id: s.id, ...s.done });
    else plan.dropped.push(s.id);
  }
  return plan;
}

function decideOne(op: LedgerOp, claim: ReturnType<typeof claimOf>, d: Draft, rows: LedgerRows, made: ReservationRow[]): unknown {
  if (claim instanceof Error) throw claim;
  const k = opKey(claim.service, claim.key);
  const state = d.op(k);
  if (!state) throw new Error(`no claim for ${claim.key}`);
  if (state.done) {
    if (state.done.hash !== claim.hash) {
      throw refusal('INPUT.IDEMPOTENCY_KEY_REUSED', `idempotency key "${claim.key}" was already used for a different request`, { idempotencyKey: claim.key });
    }
    return state.done.result; // a replay: the stored answer, nothing moves
  }
  const opId = state.id;
  const result = apply(op, opId, d, rows, made);
  d.ops.set(k, { ...state, done: { kind: claim.kind, hash: claim.hash, result } });
  return result;
}

function apply(op: LedgerOp, opId: string, d: Draft, rows: LedgerRows, made: ReservationRow[]): unknown {
  const service = op.service;
  const balanceFor = (accountId: string, asset: string): Bal => {
    const b = d.balance(balKey(accountId, asset));
    if (b) return b;
    if (!rows.knownAccounts.has(accountId)) throw unknownAccount(accountId);
    if (!rows.knownAssets.has(asset)) throw unknownAsset(asset);
    return { total: 0n, reserved: 0n };
  };
  const setBalance = (accountId: string, asset: string, b: Bal) => d.balances.set(balKey(accountId, asset), b);
  const entry = (e: Omit<Entry, 'operationId' | 'totalAfter' | 'reservedAfter'>, after: Bal) =>
    d.entries.push({ ...e, operationId: opId, totalAfter: after.total, reservedAfter: after.reserved });

  switch (op.kind) {
    case 'RESERVE':
    case 'RESERVE_LIKE': {
      // An adoption's hold is on the balance of the reservation it takes from (claimOf has found that one).
      const like = op.kind === 'RESERVE_LIKE' ? (reservationOf(op.like.service, op.like.ref, rows) as ReservationRow) : undefined;
      const accountId = like ? like.account_id : (op as { accountId: string }).accountId;
      const asset = like ? like.asset : (op as { asset: string }).asset;
      const b = balanceFor(accountId, asset);
      if (b.total - b.reserved < op.amount) throw insufficient(b.total - b.reserved, op.amount, accountId, asset);
      const after = { total: b.total, reserved: b.reserved + op.amount };
      setBalance(accountId, asset, after);
      const r: ReservationRow = {
        id: newId('rsv'), account_id: accountId, asset, amount: op.amount.toString(), released: '0', consumed: '0', status: 'OPEN',
        reason: op.reason, service, operation_id: opId, created_at: new Date(), updated_at: new Date(),
      };
      d.reservations.set(r.id, r);
      made.push(r);
      entry({ accountId, asset, kind: 'RESERVE', totalDelta: 0n, reservedDelta: op.amount, reservationId: r.id, reason: op.reason }, after);
      const result: ReserveResult = { reservation: reservationJson(r), balance: balanceJson(accountId, asset, after) };
      d.events.push({ topic: 'balance.reserved', key: accountId, payload: { operationId: opId, service, ...result } });
      return result;
    }
    case 'RELEASE':
    case 'CONSUME': {
      const id = rows.keyRefs.get(refKey(service, op.ref))!.id!;
      const target = d.reservation(id)!;
      const remaining = remainingOf(target);
      const consume = op.kind === 'CONSUME';
      const amount = op.amount ?? remaining;
      if (amount > remaining) throw exceeds(consume ? 'consume' : 'release', amount, target, remaining);
      const b = balanceFor(target.account_id, target.asset);
      if (amount === 0n) return { operationId: opId, balance: balanceJson(target.account_id, target.asset, b), reservation: reservationJson(target) };
      const after = { total: consume ? b.total - amount : b.total, reserved: b.reserved - amount };
      setBalance(target.account_id, target.asset, after);
      const released = BigInt(target.released) + (consume ? 0n : amount);
      const consumed = BigInt(target.consumed) + (consume ? amount : 0n);
      const r: ReservationRow = {
        ...target, released: released.toString(), consumed: consumed.toString(),
        status: released + consumed === BigInt(target.amount) ? 'CLOSED' : 'OPEN',
      };
      d.reservations.set(r.id, r);
      entry({ accountId: r.account_id, asset: r.asset, kind: op.kind, totalDelta: consume ? -amount : 0n, reservedDelta: -amount, reservationId: r.id, reason: r.reason }, after);
      const result: ChangeResult = { operationId: opId, balance: balanceJson(r.account_id, r.asset, after), reservation: reservationJson(r) };
      d.events.push({ topic: consume ? 'balance.consumed' : 'balance.released', key: r.account_id, payload: { service, amount: amount.toString(), ...result } });
      return result;
    }
    case 'CREDIT':
    case 'DEBIT': {
      const b = balanceFor(op.accountId, op.asset);
      const credit = op.kind === 'CREDIT';
      if (!credit && b.total - b.reserved < op.amount) throw insufficient(b.total - b.reserved, op.amount, op.accountId, op.asset);
      // Decided here, not left to the database: a refused write would fail the whole list, and asked again it fails again.
      if (credit && b.total + op.amount > BALANCE_MAX) throw overflow(b, op.amount, op.accountId, op.asset);
      // A credit to a balance that has no row needs the row this list opened for it (an unknown account or asset has none).
      if (credit && !d.balance(balKey(op.accountId, op.asset))) throw new Error(`no balance row opened for ${op.accountId}/${op.asset}`);
      const after = { total: credit ? b.total + op.amount : b.total - op.amount, reserved: b.reserved };
      setBalance(op.accountId, op.asset, after);
      entry({ accountId: op.accountId, asset: op.asset, kind: op.kind, totalDelta: credit ? op.amount : -op.amount, reservedDelta: 0n, reservationId: null, reason: op.reason }, after);
      const result: ChangeResult = { operationId: opId, balance: balanceJson(op.accountId, op.asset, after) };
      d.events.push({ topic: credit ? 'balance.credited' : 'balance.debited', key: op.accountId, payload: { service, amount: op.amount.toString(), reason: op.reason, ...result } });
      return result;
    }
  }
}

/** Balances a BalanceRow as the plan keeps it. */
export const balOf = (b: BalanceRow): Bal => ({ total: BigInt(b.total), reserved: BigInt(b.reserved) });
