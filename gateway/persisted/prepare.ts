import type { ApolloServer } from '@apollo/server';
import type { ApolloGateway } from '@apollo/gateway';
import {
  getNamedType, isEnumType, isInputObjectType, isListType, isNonNullType, parse, typeFromAST,
  type GraphQLInputType, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql';
import type { Caller } from '../../subgraphs/kit/auth.js';
import { appError } from '../../subgraphs/kit/errors.js';
import type { Logger } from '../../subgraphs/kit/log.js';
import type { GatewayContext } from '../context.js';
import type { Manifest } from './manifest.js';

/**
 * Query plans of persisted operations are made at start, not on a partner's
 * first request. @apollo/gateway has no public way to fill its plan cache, so
 * each operation runs through the normal pipeline (parse, validation, limits,
 * the same cache key) as this caller, and the gateway's
 * experimental_didResolveQueryPlan hook, called once the plan is cached and
 * before any fetch, stops it there: nothing reaches a subgraph.
 */
export const PREPARING: Caller = Object.freeze({ kind: 'user', subject: 'gateway:prepare-plans', org: '', roles: [], token: '' }) as Caller;
const PREPARED = 'PERSISTED.PLAN_PREPARED';

export function stopWhenPrepared(o: { requestContext: { context?: unknown } }): void {
  if ((o.requestContext.context as Partial<GatewayContext> | undefined)?.caller === PREPARING) throw appError(PREPARED, 'query plan prepared');
}

export interface Preparation {
  prepared: number;
  failed: { name: string; problem: string }[];
}

export async function preparePlans(apollo: ApolloServer<GatewayContext>, gateway: ApolloGateway, m: Manifest): Promise<Preparation> {
  const schema = gateway.schema;
  const out: Preparation = { prepared: 0, failed: [] };
  if (!schema) return { prepared: 0, failed: m.operations.map((o) => ({ name: o.name, problem: 'the gateway has no schema yet' })) };
  for (const op of m.operations) {
    const r = await apollo.executeOperation(
      { query: op.body, operationName: op.name, variables: sampleVariables(schema, op.body) },
      { contextValue: { caller: PREPARING, token: '' } },
    );
    const first = r.body.kind === 'single' ? r.body.singleResult.errors?.[0] : undefined;
    if (first?.extensions?.code === PREPARED) out.prepared++;
    else out.failed.push({ name: op.name, problem: first?.message ?? 'no plan was made' });
  }
  return out;
}

/** Prepares now and again after every supergraph reload (which empties the gateway's plan cache). */
export async function keepPlansPrepared(apollo: ApolloServer<GatewayContext>, gateway: ApolloGateway, m: Manifest, log: Logger): Promise<void> {
  const run = async () => {
    const r = await preparePlans(apollo, gateway, m);
    if (r.failed.length) log.error({ failed: r.failed }, 'persisted operations without a query plan');
    log.info({ prepared: r.prepared }, 'query plans of persisted operations prepared');
  };
  if (m.operations.length === 0) return;
  await run();
  // Apollo Server's own listener (registered at its start, so before this one) switches schemas first.
  gateway.onSchemaLoadOrUpdate(() => setImmediate(() => void run().catch((e: Error) => log.error({ err: e.message }, 'preparing query plans failed'))));
}

/**
 * Variables the gateway accepts for each required variable (it checks them
 * before planning); values do not matter, the plan does not depend on them.
 */
function sampleVariables(schema: GraphQLSchema, body: string): Record<string, unknown> {
  const op = parse(body).definitions[0] as OperationDefinitionNode;
  const vars: Record<string, unknown> = {};
  for (const v of op.variableDefinitions ?? []) {
    const type = typeFromAST(schema, v.type as never) as GraphQLInputType | undefined;
    if (type && isNonNullType(type) && !v.defaultValue) vars[v.variable.name.value] = sample(type);
  }
  return vars;
}

function sample(type: GraphQLInputType): unknown {
  const t = isNonNullType(type) ? type.ofType : type;
  if (isListType(t)) return [];
  const named = getNamedType(t);
  if (isEnumType(named)) return named.getValues()[0].name;
  if (isInputObjectType(named)) {
    const fields = Object.values(named.getFields()).filter((f) => isNonNullType(f.type) && f.defaultValue === undefined);
    return Object.fromEntries(fields.map((f) => [f.name, sample(f.type)]));
  }
  if (named.name === 'Int' || named.name === 'Float') return 0;
  if (named.name === 'Boolean') return false;
  return '0'; // String, ID and custom scalars (the gateway passes those through unparsed)
}
