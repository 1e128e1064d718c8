import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

/** What one graphql-ws subscribe ended with: its first result, its errors, or the socket's close. */
export type WsOutcome =
  | { kind: 'next'; value: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] } }
  | { kind: 'errors'; errors: { message: string; extensions?: Record<string, unknown> }[] }
  | { kind: 'closed'; code: number; reason: string };

/** A graphql-ws client as an integrator writes one (the library's own client over ws), without retries. */
export function wsClient(httpUrl: string, token: string | undefined): Client {
  return createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

/** Subscribes and resolves with the first thing that happens to the subscription. */
export function firstOutcome(client: Client, payload: { query: string; variables?: Record<string, unknown>; operationName?: string; extensions?: Record<string, unknown> }): Promise<WsOutcome> {
  return new Promise((resolve) => {
    const stop = client.subscribe(payload, {
      next: (value) => { resolve({ kind: 'next', value: value as Extract<WsOutcome, { kind: 'next' }>['value'] }); stop(); },
      error: (e) => {
        if (Array.isArray(e)) resolve({ kind: 'errors', errors: e });
        else if (e && typeof e === 'object' && 'code' in e) resolve({ kind: 'closed', code: (e as { code: number }).code, reason: String((e as { reason?: string }).reason ?? '') });
        else resolve({ kind: 'closed', code: 0, reason: String(e) });
      },
      complete: () => resolve({ kind: 'closed', code: 1000, reason: 'completed' }),
    });
  });
}
