import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import type { SubgraphName } from '../../subgraphs/kit/subgraph.js';
import { generateSecrets } from '../../scripts/devSecrets.js';
import { SUBGRAPH_NAMES, startStack, type Stack, type StackOptions } from '../../scripts/stack.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface TestStack extends Stack {
  secrets: ReturnType<typeof generateSecrets>;
  token(org: string, roles: Role[], extra?: { investorId?: string; ttl?: number }): Promise<string>;
}

/** The whole stack on free loopback ports, a fresh database per subgraph (PGlite or PostgreSQL), chain as asked. */
export async function startTestStack(o: Partial<StackOptions> = {}): Promise<TestStack> {
  const secrets = generateSecrets();
  const dbs: TestDatabase[] = [];
  const databaseUrls: Partial<Record<SubgraphName, string>> = {};
  for (const name of SUBGRAPH_NAMES) {
    const t = await createTestDatabase();
    dbs.push(t);
    databaseUrls[name] = t.url;
  }
  const ports = { gateway: 0, issuance: 0, trading: 0, settlement: 0, custody: 0 };
  let stack: Stack;
  try {
    stack = await startStack({ secrets, databaseUrls, ports, chain: 'none', anvilPort: 0, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', ...o });
  } catch (e) {
    await Promise.all(dbs.map((d) => d.drop()));
    throw e;
  }
  return {
    ...stack,
    secrets,
    token: (org, roles, extra) =>
      signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-user`, org, roles, ...extra }),
    async stop() {
      await stack.stop();
      await Promise.all(dbs.map((d) => d.drop()));
    },
  };
}

export interface GraphQLResponse<D = Record<string, unknown>> {
  status: number;
  body: { data?: D | null; errors?: { message: string; path?: unknown[]; extensions?: Record<string, unknown> }[] };
}

/** A plain HTTP POST, as any client would send it. */
export async function gql<D = Record<string, unknown>>(url: string, token: string | undefined, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<D>> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: r.status, body: (await r.json()) as GraphQLResponse<D>['body'] };
}

/** Data of a response that must have no errors. */
export async function gqlOk<D = Record<string, any>>(url: string, token: string, query: string, variables?: Record<string, unknown>): Promise<D> {
  const r = await gql<D>(url, token, query, variables);
  if (r.body.errors?.length || r.status !== 200) throw new Error(`GraphQL ${r.status}: ${JSON.stringify(r.body.errors)}`);
  return r.body.data as D;
}
