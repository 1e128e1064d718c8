import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Caller, Verifier } from './auth.js';
import { appError, errorCode } from './errors.js';
import { readBody, sendJson, sendJsonText, type RouteHandler } from './http.js';
import { atBase, postJson, type PostAnswer } from './http-client.js';
import { toJsonText } from './outbox.js';
import type { Metrics } from './metrics.js';
import { NUL_CHARACTER, NUL_MESSAGE, containsNul } from './nul.js';
import { tracedCall, tracedRoute, type Tracer } from './tracing.js';

/**
 * Synchronous service-to-service calls, for decisions that need the owner's
 * current state (trading asks issuance whether a buyer may receive). Not in
 * the public supergraph: POST /internal/rpc/<method> behind a service
 * credential. Typed errors travel as { error: { code, message, ... } } and are
 * rethrown with the same code on the calling side.
 */
export type InternalHandler = (body: Record<string, unknown>, caller: Caller) => Promise<unknown>;

const MAX_INTERNAL_BODY = 1_000_000;

export function internalRoutes(verify: Verifier, handlers: Record<string, InternalHandler>, tracer?: Tracer): Record<string, RouteHandler> {
  const routes: Record<string, RouteHandler> = {};
  for (const [method, handler] of Object.entries(handlers)) {
    const route = async (req: IncomingMessage, res: ServerResponse) => {
      let caller: Caller;
      try {
        caller = await verify(req.headers.authorization);
      } catch (e) {
        return sendJson(res, 401, { error: { code: errorCode(e) ?? 'UNAUTHENTICATED', message: (e as Error).message } });
      }
      if (caller.kind !== 'service') return sendJson(res, 403, { error: { code: 'FORBIDDEN', message: 'internal operation: a service credential is required' } });
      let body: Record<string, unknown>;
      try {
        body = JSON.parse((await readBody(req, MAX_INTERNAL_BODY)) || '{}') as Record<string, unknown>;
      } catch {
        return sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: 'body must be JSON under 1 MB' } });
      }
      if (containsNul(body)) return sendJson(res, 400, { error: { code: NUL_CHARACTER, message: NUL_MESSAGE } });
      try {
        const result = toJsonText(await handler(body, caller)); // serialised once, bigints as decimal strings
        sendJsonText(res, 200, result === undefined ? '{}' : `{"result":${result}}`);
      } catch (e) {
        if (e instanceof GraphQLError && errorCode(e)) {
          const { http: _h, ...ext } = e.extensions as Record<string, unknown>;
          return sendJson(res, 422, { error: { ...ext, message: e.message } });
        }
        throw e; // the server answers 500 and logs it
      }
    };
    routes[`POST /internal/rpc/${method}`] = tracer ? tracedRoute(tracer, `/internal/rpc/${method}`, route) : route;
  }
  return routes;
}

export class InternalClient {
  constructor(
    private readonly service: string,
    private readonly baseUrl: string,
    private readonly token: () => Promise<string>,
    private readonly timeoutMs = 10_000,
    private readonly metrics?: Metrics,
    private readonly tracer?: Tracer,
  ) {}

  async call<T>(method: string, body: Record<string, unknown>): Promise<T> {
    const m = this.metrics;
    const send = () => tracedCall(this.tracer, `${this.service} ${method}`, { 'rpc.system': 'tokenstack.internal', 'rpc.service': this.service, 'rpc.method': method }, (h) => this.send<T>(method, body, h));
    if (!m) return send();
    const labels = { peer: this.service, method };
    return m.timed((outcome) => m.internalCalls.inc({ ...labels, outcome }), (s) => m.internalCallSeconds.observe(labels, s), send);
  }

  private async send<T>(method: string, body: Record<string, unknown>, traceHeaders: Record<string, string>): Promise<T> {
    let r: PostAnswer;
    try {
      r = await postJson(atBase(this.baseUrl, `/internal/rpc/${method}`), { authorization: `Bearer ${await this.token()}`, ...traceHeaders },
        toJsonText(body), this.timeoutMs);
    } catch (e) {
      throw appError('DOWNSTREAM.UNAVAILABLE', `${this.service} is unavailable (${(e as Error).name === 'TimeoutError' ? 'timeout' : (e as Error).message})`, { retryable: true, details: { service: this.service } });
    }
    let payload: { result?: T; error?: { code: string; message: string } & Record<string, unknown> } = {};
    try {
      payload = JSON.parse(r.body) as typeof payload;
    } catch { /* not JSON: judged by its status below */ }
    const ok = r.status >= 200 && r.status < 300;
    if (ok) return payload.result as T;
    if (payload.error?.code && r.status < 500) {
      const { code, message, ...rest } = payload.error;
      // The peer failed on its side (its database connection dropped): the caller retries as for a peer that is down.
      if (rest.retryable === true) throw appError('DOWNSTREAM.UNAVAILABLE', `${this.service}: ${message}`, { retryable: true, details: { service: this.service, cause: code } });
      throw appError(code, message, { details: { ...rest, service: this.service } });
    }
    throw appError('DOWNSTREAM.FAILED', `${this.service} failed on ${method} (HTTP ${r.status})`, { retryable: r.status >= 500, details: { service: this.service } });
  }
}
