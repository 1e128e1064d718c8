/** How the gateway sends one subgraph request: a deadline, a bounded resend when the network lost it, a 400's GraphQL body kept. */

export type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

export interface SubgraphFetchOptions {
  /** Deadline of the whole fetch, resends included. */
  timeoutMs: number;
  /** Resends after a failure the network caused (see `resendable`). */
  retries: number;
  /** Pause before the first resend; it doubles. */
  retryPauseMs?: number;
  /** Told of every resend and why (logs and metrics). */
  onResend?: (reason: string) => void;
}

/** The subgraph never got the request (no connection was made): sending it again is safe, a mutation too. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
/** The connection broke after the request left: the subgraph may have run it, so only a query (no effects) is sent again. */
const LOST_IN_FLIGHT = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/** The socket-level code under fetch's "fetch failed" (ECONNREFUSED, UND_ERR_SOCKET, ...). */
export function failureCode(e: unknown): string | undefined {
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

/**
 * Whether the request body is a query. The gateway writes the operation first (`{"query":"query ...` or
 * `{"query":"{...`); anything else (a mutation, a body we cannot read) counts as having effects.
 */
export function isQueryBody(body: RequestInit['body']): boolean {
  return typeof body === 'string' && /^\{"query":"(?:query\b|\{)/.test(body);
}

/** Whether a failed fetch may be sent again: what failed, and whether the operation has effects. */
export function resendable(e: unknown, body: RequestInit['body']): boolean {
  const code = failureCode(e);
  if (!code) return false;
  return NOT_DELIVERED.has(code) || (LOST_IN_FLIGHT.has(code) && isQueryBody(body));
}

/**
 * A subgraph answers a request it refuses (a BigInt variable that is not a
 * decimal string, say) with HTTP 400 and a GraphQL body carrying the typed
 * error. The gateway would turn any non-2xx into an opaque
 * INTERNAL_SERVER_ERROR; handing it the body as a normal response keeps the
 * code (INPUT.INVALID_BIG_INT) for the client.
 *
 * A kept-alive connection the subgraph closes as a request goes out, or a
 * subgraph restarting, loses a request the subgraph never ran; the client would
 * see "unavailable" for a moment's hiccup. Such a request is sent again within
 * the same deadline when that is safe (`resendable`).
 */
export function subgraphFetcher(o: SubgraphFetchOptions): Fetcher {
  return async (input: string, init: RequestInit): Promise<Response> => {
    const signal = AbortSignal.timeout(o.timeoutMs);
    let r: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        r = await fetch(input, { ...init, signal });
        break;
      } catch (e) {
        if (attempt >= o.retries || signal.aborted || !resendable(e, init.body)) throw e;
        o.onResend?.(failureCode(e)!);
        await new Promise((resolve) => setTimeout(resolve, (o.retryPauseMs ?? 25) * 2 ** attempt));
      }
    }
    if (r.status !== 400 || !/json/.test(r.headers.get('content-type') ?? '')) return r;
    const text = await r.text();
    try {
      if (Array.isArray((JSON.parse(text) as { errors?: unknown }).errors)) return new Response(text, { status: 200, headers: r.headers });
    } catch { /* not a GraphQL body: fall through as the 400 it was */ }
    return new Response(text, { status: 400, statusText: r.statusText, headers: r.headers });
  };
}
