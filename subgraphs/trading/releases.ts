/**
 * Sends custody the releases the book writer owes (cancelled, expired and
 * rejected quantities, a buy's price improvement), after their transaction
 * committed. Each is idempotent by key at custody, so sending one twice (a
 * retry, or two trading processes) releases it once.
 */
import type { Db } from '../kit/db/types.js';
import { errorCode } from '../kit/errors.js';
import type { Logger } from '../kit/log.js';
import type { Peers } from './peers.js';
import { pendingReleaseCount, pendingReleases, releaseAttemptFailed, releaseNotNeeded, releaseSent } from './store/releases.js';


export class Releaser {
  private running?: Promise<void>;
  private again = false;

  constructor(private readonly db: Db, private readonly peers: () => Peers, private readonly log: Logger) {}

  /** Runs a pass now (or right after the one in progress). Never rejects: what failed stays PENDING for the next pass. */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })().catch((e) => { this.log.warn({ err: (e as Error).message }, 'reservation releases not sent yet; the sweep retries'); }).finally(() => { this.running = undefined; });
    return this.running;
  }

  async pending(): Promise<number> {
    return pendingReleaseCount(this.db);
  }

  private async pass(): Promise<void> {
    for (;;) {
      const ops = await pendingReleases(this.db, 200);
      if (ops.length === 0) return;
      for (const op of ops) {
        try {
          await this.peers().release(op.amount === null ? { key: op.reservation_key } : { key: op.reservation_key, amount: BigInt(op.amount), idempotencyKey: op.idempotency_key });
          await releaseSent(this.db, op.id);
        } catch (e) {
          const code = errorCode(e);
          // A reservation asked for with an unknown outcome may never have been made: nothing to give back.
          if (op.amount === null && code === 'CUSTODY.UNKNOWN_RESERVATION') {
            await releaseNotNeeded(this.db, op.id, code);
            continue;
          }
          // Unreachable custody is retried; a refusal (the books disagree) is kept as FAILED for an operator.
          const retryable = !code || code.startsWith('DOWNSTREAM.');
          const failed = !retryable;
          await releaseAttemptFailed(this.db, op.id, `${code ?? 'ERROR'}: ${(e as Error).message}`.slice(0, 500), failed ? 'FAILED' : 'PENDING');
          this.log[failed ? 'error' : 'warn']({ op: op.idempotency_key, err: (e as Error).message }, failed ? 'reservation release failed for good' : 'reservation release will be retried');
          if (retryable) return; // custody unreachable: the sweep tries again later
        }
      }
    }
  }
}
