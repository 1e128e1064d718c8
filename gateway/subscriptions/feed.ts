import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Caller } from '../../subgraphs/kit/auth.js';
import type { Logger } from '../../subgraphs/kit/log.js';
import { executeEvent, type EventRequest } from './executor.js';
import type { ClientQueue } from './queue.js';
import type { UpstreamListener } from './upstream.js';

const expiries = new WeakMap<Caller, number>();

/** When a caller's (verified) bearer expires, in seconds; a bearer without "exp" never does. */
function expiresAt(c: Caller): number {
  let at = expiries.get(c);
  if (at === undefined) {
    try {
      const exp = JSON.parse(Buffer.from(c.token.split('.')[1] ?? '', 'base64url').toString('utf8')).exp;
      at = typeof exp === 'number' ? exp : Infinity;
    } catch {
      at = 0;
    }
    expiries.set(c, at);
  }
  return at;
}

/**
 * The caller whose bearer lives longest among a feed's or view's clients:
 * the one a shared upstream (re)connects with and the rest of the plan runs
 * as, so that one client's stale bearer never fails the others.
 */
export function freshest(callers: Iterable<Caller>): Caller | undefined {
  let best: Caller | undefined;
  for (const c of callers) if (!best || expiresAt(c) >= expiresAt(best)) best = c;
  return best;
}

/**
 * One client operation (same document and variables, and the same caller
 * unless the operation is shared across callers) and the clients that run
 * it: each event goes through the rest of the plan once, in arrival order,
 * as the caller with the freshest bearer, and its result is queued for every client.
 */
export class Feed implements UpstreamListener {
  readonly clients = new Map<ClientQueue, Caller>();
  private chain: Promise<void> = Promise.resolve();
  private backlog = 0;
  private running = 0;
  private readonly slots: (() => void)[] = [];
  private done = false;
  release?: () => void;

  /** `pipeline`: events whose rest of the plan may run at once (delivered in arrival order all the same). */
  constructor(readonly request: Omit<EventRequest, 'context'>, private readonly maxBacklog: number, private readonly pipeline: number, private readonly log: Logger) {}

  event(data: Record<string, unknown>): void {
    if (this.done) return;
    // Events wait here while the rest of the plan runs (a slow subgraph); bounded like a client's queue.
    if (++this.backlog > this.maxBacklog) {
      return this.fail(new GraphQLError(`more than ${this.maxBacklog} events are waiting for the other subgraphs; subscribe again with after = the last cursor`, { extensions: { code: 'SUBSCRIPTION.BACKLOG_EXCEEDED', retryable: true } }));
    }
    // A slow entity fetch for one event does not hold up the next one's; deliveries keep the order.
    const result = this.run(data);
    this.chain = this.chain.then(async () => {
      const r = await result;
      if (r) for (const c of this.clients.keys()) c.push(r);
    });
  }

  private async run(data: Record<string, unknown>): Promise<ExecutionResult | undefined> {
    if (this.running < this.pipeline) this.running++;
    else await new Promise<void>((r) => this.slots.push(r)); // the slot is handed over, not freed and taken
    try {
      const caller = freshest(this.clients.values());
      if (!caller) return undefined; // everybody left while the event waited
      return await executeEvent({ ...this.request, context: { caller, token: caller.token } }, data);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'subscription event failed in the gateway');
      return { errors: [new GraphQLError('internal error', { extensions: { code: 'INTERNAL_SERVER_ERROR' } })] };
    } finally {
      this.backlog--;
      const next = this.slots.shift();
      if (next) next();
      else this.running--;
    }
  }

  get ended(): boolean {
    return this.done;
  }

  fail(error: GraphQLError): void {
    if (this.done) return;
    this.done = true;
    // After what is already on its way: a client sees every event before the reason it ends.
    this.chain = this.chain.then(() => { for (const c of [...this.clients.keys()]) c.fail(error); });
  }

  complete(): void {
    if (this.done) return;
    this.done = true;
    this.chain = this.chain.then(() => { for (const c of [...this.clients.keys()]) c.end(); });
  }
}
