import { performance } from 'node:perf_hooks';
import { errorCode } from '../kit/errors.js';
import { continueTrace, tracerOf } from '../kit/tracing.js';
import { driveBatch, finalizeSettlement, openGrossBatch } from './batches.js';
import { isTerminal } from './domain/status.js';
import { releaseStep } from './release.js';
import { isTransient, message, type SettlementServices } from './services.js';
import { claimDueSettlements, updateSettlement, type SettlementRow } from './store/settlements.js';
import { batchById, claimDueBatches, type BatchRow } from './store/batches.js';
import { completeChainFacts, verifyStep } from './verify.js';

/**
 * The settlement worker: claims due settlements and DvP batches (leased, in
 * order of arrival, SKIP LOCKED so that replicas share the work) and moves
 * each one step: verify, open a gross batch, drive a batch on chain, finish a
 * settled trade, release what a failed one held. Up to `concurrency` at once;
 * a new item starts as soon as one finishes. Woken by every settlement event
 * (LISTEN/NOTIFY through the outbox watcher), else polls.
 */
export class SettlementWorker {
  private stopped = false;
  private loop?: Promise<void>;
  private readonly inFlight = new Set<Promise<void>>();
  private wake: () => void = () => undefined;
  /** Items handled (tests, progress). */
  handled = 0;
  /** Steps that found their lease taken over by another worker (their writes refused). */
  leaseLost = 0;
  lastError?: string;
  /** When this worker last looked for due batches (performance.now()); -Infinity: look at the next claim. */
  private batchesLookedAt = -Infinity;

  private readonly tracer = tracerOf('settlement');

  constructor(private readonly s: SettlementServices) {}

  start(): void {
    this.loop ??= this.run();
  }

  kick(): void {
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    const { s } = this;
    while (!this.stopped) {
      let claimed = 0;
      try {
        claimed = await this.claim(s.config.SETTLEMENT_CONCURRENCY - this.inFlight.size);
        this.lastError = undefined;
      } catch (e) {
        this.lastError = message(e);
        s.log.warn({ err: this.lastError }, 'settlement worker could not claim work');
      }
      if (claimed > 0 && this.inFlight.size < s.config.SETTLEMENT_CONCURRENCY) continue;
      // Wait for a finished item, a new event in the outbox, or the poll interval.
      const kicked = new Promise<void>((r) => (this.wake = r));
      const next = s.outbox.next(s.config.SETTLEMENT_POLL_MS);
      await Promise.race([kicked, next.done]);
      next.cancel();
    }
  }

  private async claim(room: number): Promise<number> {
    if (room <= 0 || this.stopped) return 0;
    const { db, config, leases } = this.s;
    const rows = await claimDueSettlements(db, config.SETTLEMENT_LEASE_MS, room, leases.owner);
    // A batch is due only after a wait (a retry, a receipt polled again, a consent deadline, another process's lease
    // lapsing), never as soon as a step ends: looked for once per poll interval rather than at every wake (a statement
    // per item handled), and at once again after a look that found some.
    const look = rows.length < room && performance.now() - this.batchesLookedAt >= config.SETTLEMENT_POLL_MS;
    const batches = look ? await claimDueBatches(db, config.SETTLEMENT_LEASE_MS, room - rows.length, leases.owner) : [];
    if (look) this.batchesLookedAt = batches.length ? -Infinity : performance.now();
    // Each step on a settlement is a span of the trace that brought its trade in; its lease is renewed while it runs.
    for (const r of rows) {
      this.track(leases.during('settlements', r, () => continueTrace(this.tracer, `settle ${r.status}`, { 'tokenstack.settlement.id': r.id }, r.traceparent, () => this.step(r))));
    }
    for (const b of batches) this.track(leases.during('dvp_batches', b, () => driveBatch(this.s, b)).then(() => undefined));
    return rows.length + batches.length;
  }

  private track(p: Promise<void>): void {
    const t = p.catch((e) => {
      // A lease that lapsed (the process paused longer than a lease): another worker has the row, this one stops.
      if (errorCode(e) === 'SETTLEMENT.LEASE_LOST') {
        this.leaseLost++;
        this.s.log.warn({ err: message(e) }, 'settlement lease lost; left to the worker that took it over');
      } else this.s.log.error({ err: message(e) }, 'settlement step failed');
    }).finally(() => {
      this.inFlight.delete(t);
      this.handled++;
      this.wake();
    });
    this.inFlight.add(t);
  }

  /** One step of one settlement; a failure of the machinery leaves it as it was, due again later. */
  async step(row: SettlementRow): Promise<void> {
    const { s } = this;
    try {
      if (row.release_pending && isTerminal(row.status, row.final)) return await releaseStep(s, row);
      switch (row.status) {
        case 'RECEIVED':
        case 'FAILED':
          if (row.final) break;
          await verifyStep(s, row);
          return;
        case 'VERIFIED': {
          if (!s.chain.configured) break;
          // Verified before a chain was configured: its chain checks first.
          const ready = row.cash_token_address ? row : await completeChainFacts(s, row);
          if (!ready || row.mode !== 'GROSS') break;
          const b = await openGrossBatch(s, ready);
          if (b) await s.leases.during('dvp_batches', b, () => driveBatch(s, b));
          return;
        }
        case 'SETTLING': {
          const b: BatchRow | null = row.batch_id ? await batchById(s.db, row.batch_id) : null;
          if (b?.status === 'SETTLED') {
            await finalizeSettlement(s, row, b);
            return;
          }
          break; // the batch drives it
        }
        default:
          break;
      }
      await updateSettlement(s.db, row, row.status, { next_attempt_at: null, lease_until: null });
    } catch (e) {
      if (errorCode(e) === 'SETTLEMENT.LEASE_LOST') throw e;
      if (errorCode(e) === 'SETTLEMENT.STATUS_CHANGED') {
        await updateSettlement(s.db, row, null, { lease_until: null });
        return;
      }
      if (!isTransient(e)) s.log.error({ settlementId: row.id, status: row.status, err: message(e) }, 'settlement step failed; will retry');
      await updateSettlement(s.db, row, row.status, {
        next_attempt_at: new Date(s.now().getTime() + s.config.SETTLEMENT_RETRY_MS), lease_until: null, last_error: message(e),
      });
    }
  }
}
