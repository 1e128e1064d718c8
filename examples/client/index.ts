import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import type { CreateSecurityTokenInput } from './generated/graphql.js';
import { CreateSecurityToken, SecurityTokens, SettlementStatusChanged } from './operations.js';

/**
 * A typed client of the tokenstack gateway, as an integrator would write one:
 * queries and mutations over HTTP, subscriptions over graphql-ws on the same
 * path, every result and variable typed from the supergraph (npm run codegen).
 */
export class GraphQLRequestError extends Error {
  constructor(readonly status: number, readonly errors: { message: string; extensions?: Record<string, unknown> }[]) {
    super(`GraphQL ${status}: ${errors.map((e) => `${e.message}${e.extensions?.code ? ` (${e.extensions.code})` : ''}`).join('; ')}`);
    this.name = 'GraphQLRequestError';
  }
}

export interface TokenstackClient {
  request<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V): Promise<R>;
  subscribe<R, V extends Record<string, unknown>>(doc: TypedDocumentNode<R, V>, variables?: V): AsyncIterableIterator<R>;
  close(): Promise<void>;
}

/** `url` is the gateway's GraphQL endpoint (http://host:4000/graphql); `token` a bearer JWT. */
export function connect({ url, token }: { url: string; token: string }): TokenstackClient {
  let ws: Client | undefined;
  // The socket opens on the first subscription only, and authenticates once, with connection params.
  const socket = () => (ws ??= createClient({
    url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${token}` },
  }));
  return {
    async request(doc, variables) {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: print(doc), variables }),
      });
      const body = (await r.json()) as { data?: unknown; errors?: GraphQLRequestError['errors'] };
      if (body.errors?.length || !body.data) throw new GraphQLRequestError(r.status, body.errors ?? [{ message: 'no data' }]);
      return body.data as never;
    },
    subscribe<R>(doc: TypedDocumentNode<R, never>, variables?: Record<string, unknown>) {
      const events = socket().iterate<R>({ query: print(doc), variables });
      return (async function* () {
        for await (const e of events) {
          if (e.errors?.length) throw new GraphQLRequestError(200, e.errors as GraphQLRequestError['errors']);
          yield e.data as R;
        }
      })();
    },
    async close() { await ws?.dispose(); },
  };
}

// The example's three operations: a query, a creating mutation (idempotent by key), a subscription.

export async function listTokens(c: TokenstackClient) {
  return (await c.request(SecurityTokens)).securityTokens;
}

export async function createToken(c: TokenstackClient, input: CreateSecurityTokenInput) {
  return (await c.request(CreateSecurityToken, { input })).createSecurityToken;
}

/** Status changes of the settlements the caller may see, from `after` (a cursor) on, until one is final when `untilFinal`. */
export async function* settlementUpdates(c: TokenstackClient, o: { settlementId?: string; after?: string; untilFinal?: boolean } = {}) {
  for await (const e of c.subscribe(SettlementStatusChanged, { settlementId: o.settlementId, after: o.after })) {
    yield e.settlementStatusChanged;
    if (o.untilFinal && e.settlementStatusChanged.final) return;
  }
}

// npx tsx examples/client/index.ts  (TOKENSTACK_URL, TOKENSTACK_TOKEN: an ISSUER_AGENT token, e.g. from npm start)
export async function main(env = process.env, say: (line: string) => void = console.log): Promise<void> {
  const token = env.TOKENSTACK_TOKEN;
  if (!token) throw new Error('set TOKENSTACK_TOKEN to a bearer token (npm run token -- --role ISSUER_AGENT --org issuer-co)');
  const c = connect({ url: env.TOKENSTACK_URL ?? 'http://127.0.0.1:4000/graphql', token });
  try {
    const created = await createToken(c, { idempotencyKey: 'example-client-1', name: 'Example Client Notes', symbol: 'EXCL', decimals: 0, exemption: 'REG_D_506C' });
    say(`created (or found again) ${created.symbol}: ${created.id} ${created.status}`);
    for (const t of await listTokens(c)) say(`${t.symbol.padEnd(6)} ${t.exemption.padEnd(11)} ${t.status.padEnd(10)} supply ${t.totalSupply}`);
    say('settlement status changes (Ctrl-C stops):');
    for await (const e of settlementUpdates(c, { after: '0' })) say(`  ${e.at} ${e.settlementId} ${e.previousStatus ?? '-'} -> ${e.status}${e.reasonCode ? ` (${e.reasonCode})` : ''}`);
  } finally {
    await c.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => { console.error(e.message); process.exit(1); });
}
