/**
 * The single writer of one token's book. Commands queue in memory and run
 * in batches: each batch is applied to the engine and journaled, with every
 * row and outbox event it implies, in ONE transaction that first locks the
 * book's row and checks this writer's epoch (a writer that lost the book to
 * another process can no longer commit). If a batch fails the in-memory
 * book is rebuilt from the database and its commands are retried one by one.
 */
import type { Db, Queryable } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import type { Logger } from '../kit/log.js';
import { appendTyped } from '../kit/contracts/events.js';
import { OrderBook, type RestingOrder } from './domain/index.js';
import { BatchRun, type CancelCause, type CommandResult, type Effects } from './journal.js';
import { ownerOf, type LiveOrder, type Tranche } from './domain/live.js';
import { instrumentRules, reason, type VenueRules } from './rules.js';
import { bookHalted, bookRow, notifyResults, openOrders, pendingOrders, standingIntents, storeEffects, takeOver } from './store/writer.js';

/** A command as it travels (JSON-safe: amounts are decimal strings), also the payload of a queued command row. */
export type TrancheJson = { key: string; accountId: string; asset: string; amount: string };
export type WriterCommand =
  | { kind: 'PLACE'; orderId: string; tranche: TrancheJson | null; investorId?: string | null; notes?: { event: string; detail: Record<string, unknown> }[] }
  | { kind: 'CANCEL'; orderId: string; reason: CancelCause; actor: string }
  | { kind: 'REPLACE'; orderId: string; price: string | null; quantity: string | null; tranche: TrancheJson | null; actor: string }
  | { kind: 'EXPIRE'; before: number };

export interface WriterDeps {
  db: Db;
  rules: VenueRules;
  now: () => Date;
  log: Logger;
  batchMax: number;
  /** After a commit: wake the releaser, the surveillance and anyone waiting on queued commands. */
  afterCommit(fx: Effects): void;
}

interface Item { cmd: WriterCommand; commandId?: string; resolve(r: CommandResult): void; reject(e: unknown): void }

export class LostBook extends Error {
  constructor(tokenId: string) {
    super(`this process no longer writes the book of ${tokenId}`);
  }
}
class Reentered extends Error {}

const tranche = (t: TrancheJson | null): Tranche | null =>
  t && { tranche: 0, key: t.key, accountId: t.accountId, asset: t.asset, amount: BigInt(t.amount), used: 0n, released: 0n };

function resting(o: LiveOrder): RestingOrder {
  return {
    orderId: o.id, ownerId: ownerOf(o), side: o.side, price: o.price, remaining: o.remaining, filled: o.filled,
    timeInForce: o.timeInForce === 'DAY' ? 'DAY' : 'GTC', postOnly: o.postOnly, stp: o.stp, priority: o.priority ?? 0,
    placedAt: o.acceptedAt ? new Date(o.acceptedAt).getTime() : 0,
  };
}

export class BookWriter {
  private book!: OrderBook;
  private live = new Map<string, LiveOrder>();
  private epoch = 0n;
  private queue: Item[] = [];
  private draining?: Promise<void>;
  dead = false;

  private constructor(readonly tokenId: string, private readonly d: WriterDeps) {}

  /** Takes the book over (a new epoch) and rebuilds it from the database. The caller holds the token's lock. */
  static async open(tokenId: string, d: WriterDeps): Promise<BookWriter> {
    const w = new BookWriter(tokenId, d);
    await w.rebuild(true);
    return w;
  }

  get orderCount(): number {
    return this.book.orderCount;
  }

  /** The engine's view, for tests and diagnostics. */
  snapshot() {
    return this.book.snapshot();
  }

  submit(cmd: WriterCommand, commandId?: string): Promise<CommandResult> {
    if (this.dead) return Promise.reject(new LostBook(this.tokenId));
    return new Promise((resolve, reject) => {
      this.queue.push({ cmd, commandId, resolve, reject });
      this.draining ??= this.drain().finally(() => { this.draining = undefined; });
    });
  }

  /** Fails everything queued (the book was lost). */
  kill(): void {
    this.dead = true;
    for (const it of this.queue.splice(0)) it.reject(new LostBook(this.tokenId));
  }

  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.dead) {
      const batch = this.queue.splice(0, this.d.batchMax);
      await this.runBatch(batch);
    }
  }

  private async runBatch(batch: Item[]): Promise<void> {
    try {
      const results = await this.commit(batch);
      batch.forEach((it, i) => it.resolve(results[i]));
      return;
    } catch (e) {
      if (e instanceof LostBook) {
        batch.forEach((it) => it.reject(e));
        this.kill();
        return;
      }
      this.d.log.error({ tokenId: this.tokenId, err: (e as Error).message, size: batch.length }, 'book batch failed; rebuilding the book from the database');
      try {
        await this.rebuild(false);
      } catch (re) {
        batch.forEach((it) => it.reject(re));
        this.kill();
        return;
      }
      if (batch.length === 1) {
        batch[0].reject(e);
        return;
      }
    }
    for (const it of batch) await this.runBatch([it]);
  }

  private async rebuild(takeover: boolean): Promise<void> {
    await this.d.db.tx(async (q) => {
      const b = takeover ? await takeOver(q, this.tokenId) : await bookRow(q, this.tokenId, true);
      if (!b || (!takeover && BigInt(b.epoch) !== this.epoch)) throw new LostBook(this.tokenId);
      const open = await openOrders(q, this.tokenId);
      this.book = OrderBook.fromRestingOrders(open.map(resting), { lastEventSeq: Number(b.last_event_seq) }, { instrumentId: this.tokenId, stp: this.d.rules.stpMode });
      this.live = new Map(open.map((o) => [o.id, o]));
      this.epoch = BigInt(b.epoch);
    });
  }

  private async commit(batch: Item[]): Promise<CommandResult[]> {
    let entered = false;
    const { results, fx } = await this.d.db.tx(async (q) => {
      // Db.tx retries some failures by calling us again; the engine must not see a batch twice.
      if (entered) throw new Reentered('retry needs a rebuilt book');
      entered = true;
      return this.applyBatch(q, batch);
    });
    this.d.afterCommit(fx);
    return results;
  }

  private async applyBatch(q: Queryable, batch: Item[]): Promise<{ results: CommandResult[]; fx: Effects }> {
    const b = await bookRow(q, this.tokenId, true);
    if (!b || BigInt(b.epoch) !== this.epoch) throw new LostBook(this.tokenId);
    const placeIds = batch.flatMap((it) => (it.cmd.kind === 'PLACE' ? [it.cmd.orderId] : []));
    const newKeys = batch.flatMap((it) => ('tranche' in it.cmd && it.cmd.tranche ? [it.cmd.tranche.key] : []));
    const [pending, intents] = await Promise.all([pendingOrders(q, placeIds), standingIntents(q, newKeys)]);
    const now = this.d.now();
    const rules = instrumentRules(this.d.rules, this.tokenId);
    const run = new BatchRun(this.book, this.live, {
      tokenId: this.tokenId, rules, makerFeeBps: this.d.rules.makerFeeBps, takerFeeBps: this.d.rules.takerFeeBps, cashAsset: this.d.rules.cashAsset,
      halted: bookHalted(b),
      haltReason: b.halted ? b.halt_reason : b.issuer_paused ? 'the issuer paused the token' : b.split_id ? `split ${b.split_id} in progress` : b.redemption_id ? `redemption ${b.redemption_id}` : null, now,
    });
    const done: { id: string; result: unknown }[] = [];
    const results = batch.map((it) => {
      const r = this.applyOne(run, it.cmd, pending, intents, now);
      if (it.commandId) done.push({ id: it.commandId, result: r });
      return r;
    });
    const fx = run.finish();
    await storeEffects(q, this.tokenId, this.epoch, fx, done);
    await appendTyped(q, fx.outbox);
    if (done.length) await notifyResults(q, done.map((d) => d.id));
    return { results, fx };
  }

  private applyOne(run: BatchRun, cmd: WriterCommand, pending: Map<string, LiveOrder>, intents: Set<string>, now: Date): CommandResult {
    const own = (t: TrancheJson | null) => (t && intents.has(t.key) ? tranche(t) : null);
    switch (cmd.kind) {
      case 'PLACE': {
        const o = pending.get(cmd.orderId);
        if (!o) return { ok: false, reasons: [reason('TRADING.ORDER_NOT_PENDING', `order ${cmd.orderId} is no longer waiting for the book`)] };
        pending.delete(cmd.orderId);
        const t = own(cmd.tranche);
        // Recovery released its reservation (the order stays pending; the sweep rejects it).
        if (cmd.tranche && !t) return { ok: false, reasons: [reason('TRADING.INTERRUPTED', 'the reservation was released by recovery')] };
        if (cmd.investorId) o.investorId = cmd.investorId;
        return run.apply({ kind: 'PLACE', order: o, tranche: t, notes: cmd.notes });
      }
      case 'CANCEL':
        return run.apply({ kind: 'CANCEL', orderId: cmd.orderId, reason: cmd.reason, actor: cmd.actor });
      case 'REPLACE':
        return run.apply({
          kind: 'REPLACE', orderId: cmd.orderId, actor: cmd.actor, tranche: own(cmd.tranche) ?? undefined,
          price: cmd.price === null ? undefined : BigInt(cmd.price), quantity: cmd.quantity === null ? undefined : BigInt(cmd.quantity),
        });
      case 'EXPIRE':
        return run.apply({ kind: 'EXPIRE', before: Math.min(cmd.before, now.getTime()) });
    }
  }
}

export const bookUnavailable = (tokenId: string, why: string) =>
  appError('TRADING.BOOK_UNAVAILABLE', `the book of ${tokenId} cannot take commands right now (${why}); retry`, { retryable: true, details: { tokenId } });
