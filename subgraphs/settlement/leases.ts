import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Db } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import { startLoop } from '../kit/loop.js';
import { renewLeases, type HeldLease } from './store/leases.js';

/**
 * The heartbeat of the leases a process holds: every settlement and DvP batch
 * it is working on is registered for as long as its work runs, and every
 * lease/3 one statement renews them all. A process that dies, or pauses for
 * longer than a lease, loses its rows to another worker after one lease; its
 * writes are then refused (the generation fence in store.ts), so the lease
 * can be short without a slow step (a batch waiting on its receipt) being
 * taken over while it is still worked on.
 */
export class LeaseKeeper {
  /** Written into lease_owner with every claim of this process. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly held = new Map<string, HeldLease>();
  private stopLoop?: () => Promise<void>;
  /** Leases a renewal found gone (released, or taken over by another worker). */
  lost = 0;
  /** Tests: a heartbeat that stops, as a paused process's does. */
  paused = false;

  constructor(private readonly db: Db, private readonly leaseMs: number, private readonly log: Logger) {}

  start(): void {
    this.stopLoop ??= startLoop(() => this.renew(), Math.max(1, Math.floor(this.leaseMs / 3)), {
      immediate: false, onError: (e) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not renew settlement leases; the next beat retries'),
    });
  }

  async stop(): Promise<void> {
    const stop = this.stopLoop;
    this.stopLoop = undefined;
    await stop?.();
  }

  /** Runs `work` with the lease on `row` (as claimed: its generation) kept alive. */
  async during<T>(table: HeldLease['table'], row: { id: string; lease_gen: string }, work: () => Promise<T>): Promise<T> {
    const key = `${table}:${row.id}`;
    const h: HeldLease = { table, id: row.id, gen: String(row.lease_gen) };
    this.held.set(key, h);
    try {
      return await work();
    } finally {
      if (this.held.get(key) === h) this.held.delete(key);
    }
  }

  /** One beat: renews every lease held; forgets those no longer this process's. */
  async renew(): Promise<void> {
    if (this.paused || !this.held.size) return;
    const held = [...this.held.values()];
    const renewed = await renewLeases(this.db, this.leaseMs, held);
    for (const h of held) {
      if (renewed.has(h.id)) continue;
      const key = `${h.table}:${h.id}`;
      if (this.held.get(key) === h) this.held.delete(key);
      this.lost++;
    }
  }
}
