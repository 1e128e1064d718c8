import type { GraphQLError } from 'graphql';
import { errorCode } from './errors.js';

/**
 * Runs a pass at most once at a time. A request during a running pass gets
 * the NEXT pass (so it sees everything that happened before it asked), and
 * all requests made during one pass share that next pass.
 */
export class PassRunner {
  private current?: Promise<void>;
  private queued?: Promise<void>;

  constructor(private readonly pass: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.current) return (this.current = this.start());
    const after = this.current;
    this.queued = after.then(() => {
      this.queued = undefined;
      return (this.current = this.start());
    });
    return this.queued;
  }

  /** Resolves when nothing is running or queued. */
  async idle(): Promise<void> {
    while (this.current || this.queued) await (this.queued ?? this.current)?.catch(() => undefined);
  }

  private start(): Promise<void> {
    const p = this.pass().finally(() => { if (this.current === p) this.current = undefined; });
    return p;
  }
}

export interface CoalescerOptions {
  /** Most items in one batch. */
  maxBatch: number;
  /** Batches running at once; further requests wait and leave together when one returns. */
  maxInFlight: number;
  /**
   * How long a batch with room left waits for more requests before it leaves (0, the default: it leaves
   * after the current turn of the event loop). A batch that reaches `maxBatch` leaves at once.
   */
  gatherMs?: number;
  /**
   * The most items the peer takes in one call, read from a batch's failure when the peer refused it for its length
   * (`peerListMax`): the batch's items go again, first in line, in lists of that size, and later batches keep to it.
   * The two sides' limits are separate settings of separate processes; without this, a list longer than the peer
   * takes would fail whole on every try.
   */
  peerMax?: (e: unknown) => number | undefined;
}

/** The peer's own limit when it refused a list for its length (INPUT.LIST_TOO_LONG with `max`), else undefined. */
export function peerListMax(e: unknown): number | undefined {
  if (errorCode(e) !== 'INPUT.LIST_TOO_LONG') return undefined;
  const max = (e as GraphQLError).extensions.max;
  return typeof max === 'number' && Number.isInteger(max) && max >= 1 ? max : undefined;
}

/**
 * Turns concurrent single requests into batch calls (group commit on the
 * caller's side): a request leaves at once when fewer than `maxInFlight`
 * batches run (after the current turn of the event loop, so requests made
 * together go together), otherwise it waits for a batch to return and leaves
 * with everything that queued meanwhile. The batch function answers a list
 * of the same length and order, an Error in place of an item that failed
 * (DataLoader's contract; DataLoader itself batches per tick and caches per
 * key, neither of which fits calls that must not be cached and should batch
 * by what is in flight). A batch that throws fails each of its items.
 */
export class Coalescer<I, O> {
  private queue: { item: I; resolve(o: O): void; reject(e: unknown): void }[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** The gathering window under way (gatherMs): cut short when the batch fills. */
  private gathering?: NodeJS.Timeout;
  /** opts.maxBatch, or less once the peer said it takes fewer (opts.peerMax). */
  private maxBatch: number;

  constructor(private readonly batch: (items: I[]) => Promise<(O | Error)[]>, private readonly opts: CoalescerOptions) {
    this.maxBatch = opts.maxBatch;
  }

  request(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.gathering && this.queue.length >= this.maxBatch) {
        clearTimeout(this.gathering);
        this.gathering = undefined;
        this.scheduled = false;
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    const leave = () => {
      this.gathering = undefined;
      this.scheduled = false;
      while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) void this.send(this.queue.splice(0, this.maxBatch));
    };
    const gatherMs = this.opts.gatherMs ?? 0;
    if (gatherMs > 0 && this.queue.length < this.maxBatch) this.gathering = setTimeout(leave, gatherMs);
    else setImmediate(leave);
  }

  private async send(part: Coalescer<I, O>['queue']): Promise<void> {
    this.inFlight++;
    try {
      const out = await this.batch(part.map((p) => p.item));
      if (out.length !== part.length) throw new Error(`a batch of ${part.length} was answered with ${out.length} results`);
      part.forEach((p, i) => (out[i] instanceof Error ? p.reject(out[i]) : p.resolve(out[i] as O)));
    } catch (e) {
      const max = this.opts.peerMax?.(e);
      // Strictly shorter lists each time: a peer that refuses every length still ends in a failure, never a loop.
      if (max !== undefined && max < part.length) {
        this.maxBatch = Math.min(this.maxBatch, max);
        this.queue.unshift(...part);
        return;
      }
      for (const p of part) p.reject(e);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}
