import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ApolloGateway, type SupergraphSdlUpdateFunction } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { GatewayContext } from '../../gateway/context.js';
import { readManifest } from '../../gateway/persisted/manifest.js';
import { keepPlansPrepared, preparePlans, stopWhenPrepared } from '../../gateway/persisted/prepare.js';
import { createLogger } from '../../subgraphs/kit/log.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { until } from '../support/wait.js';

// The gateway's data sources count fetches: preparing a plan must never reach a subgraph.
const manifest = readManifest(fromRoot('schema', 'persisted-operations.json'));
const sdl = readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8');

describe('query plans of persisted operations', () => {
  let gateway: ApolloGateway;
  let apollo: ApolloServer<GatewayContext>;
  let update: SupergraphSdlUpdateFunction;
  let fetches = 0;

  // The executor's cache key: the query hash, with the operation name when one is given (@apollo/gateway's executor).
  const planKey = (id: string, name: string) => createHash('sha256').update(id).update(name).digest('hex');
  const cached = async () => {
    const store = (gateway as unknown as { queryPlanStore: { get(k: string): Promise<unknown> } }).queryPlanStore;
    return (await Promise.all(manifest.operations.map((o) => store.get(planKey(o.id, o.name))))).filter(Boolean).length;
  };

  beforeAll(async () => {
    gateway = new ApolloGateway({
      supergraphSdl: async (o) => { update = o.update; return { supergraphSdl: sdl }; },
      buildService: () => ({ process: async () => { fetches++; throw new Error('no subgraph here'); } }),
      experimental_didResolveQueryPlan: stopWhenPrepared,
    });
    apollo = new ApolloServer<GatewayContext>({ gateway });
    await apollo.start();
  });
  afterAll(async () => apollo?.stop());

  test('are in the gateway\'s plan cache after preparation, and no subgraph was called to make them', async () => {
    expect(manifest.operations.length).toBeGreaterThan(5);
    expect(await cached()).toBe(0);
    await keepPlansPrepared(apollo, gateway, manifest, createLogger('test', 'silent'));
    expect(await cached()).toBe(manifest.operations.length);
    expect(fetches).toBe(0);
  });

  test('are prepared again after a supergraph reload empties the cache', async () => {
    update(sdl + '\n');
    expect(await cached()).toBe(0);
    await until('the plans prepared again', async () => (await cached()) >= manifest.operations.length);
    expect(await cached()).toBe(manifest.operations.length);
    expect(fetches).toBe(0);
  });

  test('an operation the gateway refuses (here: an unknown field) is reported by name, not prepared', async () => {
    const bad = { id: 'x', name: 'Broken', type: 'query' as const, body: 'query Broken { nope }' };
    const r = await preparePlans(apollo, gateway, { ...manifest, operations: [bad] });
    expect(r.prepared).toBe(0);
    expect(r.failed).toEqual([{ name: 'Broken', problem: expect.stringMatching(/nope/) }]);
  });
});
