import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import type { Logger } from '../kit/log.js';
import { PendingEvents } from './events.js';
import { consentsInFlight } from './store/consents.js';
import {
  booksAsOf, chainAsOf, clearBreak, countOpenBreaks, indexedCursors, insertBreak, liveBreaksForUpdate, lockReconciliation, seenAgain, type BreakRow,
} from './store/reconciliation.js';

/**
 * Books against chain: per account and asset, the books' total against what
 * the account's wallets (active and retired) hold on chain as indexed, both as
 * of one instant. Only indexed assets (with a contract address and a cursor)
 * are compared. Chain figures come from the indexer, so they stop at its block.
 */
export interface ReconciliationLine {
  accountId: string; org: string; asset: string;
  books: bigint; onChain: bigint; difference: bigint;
  wallets: { address: string; onChain: bigint }[];
}
export interface Reconciliation {
  /** Null: everything booked and indexed so far. */
  asOf: Date | null;
  /** Per asset, the last indexed block and its time: chain figures go no further. */
  indexed: { asset: string; block: string; blockTime: Date | null }[];
  lines: ReconciliationLine[];
}

export async function reconcile(q: Queryable, o: { org: string | null; asOf: Date | null }): Promise<Reconciliation> {
  const indexed = await indexedCursors(q);
  const assets = indexed.map((c) => c.asset);
  const books = await booksAsOf(q, { asOf: o.asOf, assets, org: o.org });
  const chain = await chainAsOf(q, { asOf: o.asOf, assets, org: o.org });
  const lines = new Map<string, ReconciliationLine>();
  const line = (f: { account_id: string; org: string; asset: string }) => {
    const k = `${f.account_id}/${f.asset}`;
    let l = lines.get(k);
    if (!l) lines.set(k, (l = { accountId: f.account_id, org: f.org, asset: f.asset, books: 0n, onChain: 0n, difference: 0n, wallets: [] }));
    return l;
  };
  for (const b of books) line(b).books = BigInt(b.amount);
  for (const c of chain) {
    const l = line(c);
    l.onChain += BigInt(c.amount);
    l.wallets.push({ address: c.wallet, onChain: BigInt(c.amount) });
  }
  const out = [...lines.values()].sort((a, b) => a.accountId.localeCompare(b.accountId) || a.asset.localeCompare(b.asset));
  for (const l of out) l.difference = l.books - l.onChain;
  return { asOf: o.asOf, indexed: indexed.map((c) => ({ asset: c.asset, block: c.block, blockTime: c.block_time })), lines: out };
}

/**
 * The query, for the caller's organisation: as of an instant in the past, or
 * when omitted everything booked and indexed so far (block times may run a
 * little ahead of the service clock, so "now" is not used as a bound).
 */
export async function reconciliation(db: Db, caller: Caller, asOf: Date | null | undefined, now: Date): Promise<Reconciliation> {
  requireRole(caller, 'CUSTODIAN', 'AUDITOR', 'COMPLIANCE_OFFICER');
  if (asOf && asOf.getTime() > now.getTime()) throw badInput('INVALID_AS_OF', 'asOf must not be in the future');
  return reconcile(db, { org: caller.kind === 'service' ? null : caller.org, asOf: asOf ?? null });
}

const DEFAULT_IN_FLIGHT_MS = 86_400_000;

const breakEvent = (r: Pick<BreakRow, 'org' | 'account_id' | 'asset'>, l: { books: bigint; onChain: bigint } | null, block: string, since: Date) => ({
  org: r.org, accountId: r.account_id, asset: r.asset, block, since,
  ...(l ? { books: l.books.toString(), onChain: l.onChain.toString(), difference: (l.books - l.onChain).toString() } : {}),
});

/**
 * Per account and asset, the range of differences (books minus chain) that
 * settlements on their way explain: DvP consents custody signed whose
 * reservations the booking has not consumed yet, signed within
 * `maxAgeMs`. A settled batch not booked yet (its booking retried while
 * custody was away) paid out (books above chain, up to `out`) and received
 * (chain above books, up to `in`).
 */
export async function inFlight(q: Queryable, now: Date, maxAgeMs: number): Promise<Map<string, { out: bigint; in: bigint }>> {
  const rows = await consentsInFlight(q, new Date(now.getTime() - maxAgeMs));
  const out = new Map<string, { out: bigint; in: bigint }>();
  for (const r of rows) {
    for (const m of r.moves) {
      const k = `${r.account_id}/${m.asset}`;
      const v = out.get(k) ?? { out: 0n, in: 0n };
      const d = BigInt(m.delta);
      if (d < 0n) v.out += -d;
      else v.in += d;
      out.set(k, v);
    }
  }
  return out;
}

/**
 * One run of the reconciliation job over every account. A difference is a
 * break once `confirmRuns` consecutive runs saw it (a settlement or a
 * withdrawal between its block and its booking differs for a moment):
 * `custody.reconciliation.break` is emitted when it opens and again whenever
 * its figures change; `custody.reconciliation.cleared` when it is gone. A
 * difference that settlements in flight explain (see inFlight) is no break.
 */
export async function runReconciliation(db: Db, now: Date, confirmRuns: number, inFlightMaxMs = DEFAULT_IN_FLIGHT_MS): Promise<{ open: number; opened: number; cleared: number }> {
  return db.tx(async (q) => {
    await lockReconciliation(q);
    const r = await reconcile(q, { org: null, asOf: null });
    const blockOf = new Map(r.indexed.map((c) => [c.asset, c.block]));
    const moving = await inFlight(q, now, inFlightMaxMs);
    const explained = (l: ReconciliationLine) => {
      const m = moving.get(`${l.accountId}/${l.asset}`);
      return !!m && l.difference <= m.out && -l.difference <= m.in;
    };
    const diffs = new Map(r.lines.filter((l) => l.difference !== 0n && !explained(l)).map((l) => [`${l.accountId}/${l.asset}`, l]));
    const live = await liveBreaksForUpdate(q);
    const events = new PendingEvents();
    let opened = 0;
    let cleared = 0;
    for (const b of live) {
      const l = diffs.get(`${b.account_id}/${b.asset}`);
      const block = blockOf.get(b.asset) ?? b.block;
      if (!l) {
        await clearBreak(q, b.id, now);
        if (b.status === 'OPEN') {
          events.add('custody.reconciliation.cleared', b.account_id, breakEvent(b, null, block, b.opened_at!));
          cleared++;
        }
        continue;
      }
      diffs.delete(`${b.account_id}/${b.asset}`);
      const opens = b.status === 'SUSPECT' && b.runs + 1 >= confirmRuns;
      const changed = b.status === 'OPEN' && (BigInt(b.books) !== l.books || BigInt(b.on_chain) !== l.onChain);
      await seenAgain(q, b.id, { books: l.books, onChain: l.onChain, block, opens, at: now });
      if (opens || changed) events.add('custody.reconciliation.break', b.account_id, breakEvent(b, l, block, b.opened_at ?? now));
      if (opens) opened++;
    }
    for (const l of diffs.values()) {
      const opens = confirmRuns <= 1;
      const block = blockOf.get(l.asset)!;
      await insertBreak(q, { org: l.org, accountId: l.accountId, asset: l.asset, books: l.books, onChain: l.onChain, block, opens, at: now });
      if (opens) {
        events.add('custody.reconciliation.break', l.accountId, breakEvent({ org: l.org, account_id: l.accountId, asset: l.asset }, l, block, now));
        opened++;
      }
    }
    await events.appendTo(q);
    return { open: await countOpenBreaks(q), opened, cleared };
  });
}

/** Runs the job every intervalMs; returns the stopper. */
export function startReconciliationJob(db: Db, o: { intervalMs: number; confirmRuns: number; inFlightMaxMs?: number; log?: Logger }): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = runReconciliation(db, new Date(), o.confirmRuns, o.inFlightMaxMs)
      .then((r) => { if (r.opened || r.cleared) o.log?.warn(r, 'custody reconciliation: breaks changed'); })
      .catch((e: unknown) => o.log?.error({ err: (e as Error).message }, 'custody reconciliation run failed'))
      .finally(() => { if (!stopped) timer = setTimeout(tick, o.intervalMs); });
  };
  timer = setTimeout(tick, o.intervalMs);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
