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
    // Chain work through the gateway (deploying a suite) can outlast the production deadline on a loaded 2-core CI machine.
    const gatewayEnv = { SUBGRAPH_TIMEOUT_MS: '60000', ...o.gatewayEnv };
    stack = await startStack({ secrets, ports, chain: 'none', anvilPort: 0, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', ...o, databaseUrls: { ...databaseUrls, ...o.databaseUrls }, gatewayEnv });
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

export { gql, gqlOk, type GraphQLResponse } from '../../scripts/graphqlClient.js';
