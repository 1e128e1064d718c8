/**
 * The books of this trading process. A command for a token goes to that
 * token's writer: here if this process holds (or can take) the token's lock,
 * otherwise into the `commands` table for the process that holds it, which
 * runs it in its next batch and stores the result for the waiting caller.
 * If the owner dies its lock goes with its session; the next caller, or the
 * sweep, takes the book over and runs what was queued.
 */
import type { Db } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { CommandResult, Effects } from './journal.js';
import type { BookLocks } from './store/locks.js';
import type { VenueRules } from './rules.js';
import { commandOutcome, pendingCommands, queueCommand } from './store/writer.js';
import { BookWriter, LostBook, bookUnavailable, type WriterCommand } from './writer.js';

export interface VenueDeps {
  db: Db;
  rules: VenueRules;
  now: () => Date;
  log: Logger;
  batchMax: number;
  pollMs: number;
  /** Opens the lock session (again after a loss). */
  openLocks(): Promise<BookLocks>;
  afterCommit(fx: Effects): void;
}

export class Venue {
  private writers = new Map<string, BookWriter>();
  private opening = new Map<string, Promise<BookWriter | null>>();
  private locks?: Promise<BookLocks>;
  private waiters = new Set<() => void>();
  /** Queued command ids handed to a writer and not finished yet (a notify and the sweep may both pull). */
  private inflight = new Set<string>();
  private unlisten: (() => Promise<void>)[] = [];
  private stopped = false;

  constructor(private readonly d: VenueDeps) {}

  async start(): Promise<void> {
    this.unlisten.push(await this.d.db.listen('trading_commands', (tokenId) => { void this.pull(tokenId); }));
    this.unlisten.push(await this.d.db.listen('trading_results', () => this.wake()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.writers.values()) await w.idle();
    for (const u of this.unlisten) await u();
    this.wake();
    const locks = this.locks;
    this.locks = undefined;
    this.writers.clear();
    if (locks) await (await locks).close();
  }

  /** Tokens whose book this process writes. */
  owned(): string[] {
    return [...this.writers.keys()];
  }

  writer(tokenId: string): BookWriter | undefined {
    return this.writers.get(tokenId);
  }

  async submit(tokenId: string, cmd: WriterCommand): Promise<CommandResult> {
    if (this.stopped) throw bookUnavailable(tokenId, 'the trading process is stopping');
    for (let attempt = 0; ; attempt++) {
      const w = await this.writerFor(tokenId);
      if (!w) return this.viaOwner(tokenId, cmd);
      try {
        return await w.submit(cmd);
      } catch (e) {
        if (!(e instanceof LostBook) || attempt > 0) throw e instanceof LostBook ? bookUnavailable(tokenId, 'its writer changed') : e;
        this.writers.delete(tokenId);
      }
    }
  }

  /** The token's writer in this process, taking the book when nobody holds it; null when another process does. */
  async writerFor(tokenId: string): Promise<BookWriter | null> {
    const w = this.writers.get(tokenId);
    if (w && !w.dead) return w;
    let p = this.opening.get(tokenId);
    if (!p) {
      p = this.open(tokenId).finally(() => this.opening.delete(tokenId));
      this.opening.set(tokenId, p);
    }
    return p;
  }

  private async open(tokenId: string): Promise<BookWriter | null> {
    if (this.stopped) return null;
    const locks = await this.lockSession();
    if (!(await locks.tryLock(tokenId))) return null;
    try {
      const w = await BookWriter.open(tokenId, this.d);
      this.writers.set(tokenId, w);
      this.d.log.info({ tokenId }, 'book writer started');
      void this.pull(tokenId);
      return w;
    } catch (e) {
      await locks.unlock(tokenId).catch(() => undefined);
      throw e;
    }
  }

  private lockSession(): Promise<BookLocks> {
    this.locks ??= this.d.openLocks().then((l) => {
      l.onLost(() => {
        this.d.log.error('book lock session lost: this process stops writing its books');
        for (const w of this.writers.values()) w.kill();
        this.writers.clear();
        this.locks = undefined;
      });
      return l;
    }, (e) => {
      this.locks = undefined;
      throw e;
    });
    return this.locks;
  }

  /** Runs the commands other processes queued for a book this process writes. */
  async pull(tokenId: string): Promise<void> {
    const w = this.writers.get(tokenId);
    if (!w || w.dead) return;
    try {
      const rows = (await pendingCommands(this.d.db, tokenId, 10_000)).filter((r) => !this.inflight.has(r.id));
      await Promise.all(rows.map((r) => {
        this.inflight.add(r.id);
        return w.submit(r.payload as WriterCommand, r.id).catch(() => undefined).finally(() => this.inflight.delete(r.id));
      }));
    } catch (e) {
      this.d.log.warn({ tokenId, err: (e as Error).message }, 'queued commands not run yet');
    }
  }

  /** Queues the command for the owner process and waits for its result, taking the book over if the owner is gone. */
  private async viaOwner(tokenId: string, cmd: WriterCommand): Promise<CommandResult> {
    const row = await this.d.db.tx((q) => queueCommand(q, tokenId, cmd.kind, 'orderId' in cmd ? cmd.orderId : null, cmd));
    const started = Date.now();
    let lastTakeover = started;
    for (;;) {
      const wake = new Promise<void>((r) => { this.waiters.add(r); setTimeout(r, this.d.pollMs).unref(); });
      const c = await commandOutcome<CommandResult>(this.d.db, row.id);
      if (c?.status === 'DONE') return c.result;
      if (this.stopped) throw bookUnavailable(tokenId, 'the trading process is stopping');
      if (Date.now() - lastTakeover > 2 * this.d.pollMs) {
        lastTakeover = Date.now();
        await this.writerFor(tokenId).catch(() => null); // the owner may be gone: take the book and run the queue
      }
      if (Date.now() - started > 60 * this.d.pollMs + 30_000) throw bookUnavailable(tokenId, 'its writer has not answered; the command stays queued');
      await wake;
    }
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    ws.forEach((w) => w());
  }

  /** Waits until every writer here has committed what it was given (tests). */
  async idle(): Promise<void> {
    for (const w of this.writers.values()) await w.idle();
  }
}
