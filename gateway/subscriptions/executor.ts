import { executeQueryPlan, type GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode, QueryPlan } from '@apollo/query-planner';
import type { ExecutionResult } from 'graphql';
import type { GatewayContext } from '../context.js';
import type { SubscriptionPlan, SubscriptionPlanner } from './planner.js';

/** The name under which a plan's primary fetch is answered with the event the subgraph pushed. */
const EVENT_SOURCE = '_subscriptionEvent';

export interface EventRequest {
  planner: SubscriptionPlanner;
  plan: SubscriptionPlan;
  /** The subgraphs' data sources, keyed by name (the rest of the plan calls them). */
  dataSources: Record<string, GraphQLDataSource<GatewayContext>>;
  context: GatewayContext;
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown>;
}

/**
 * One event through the rest of the plan with the gateway's own executor:
 * a plan whose first fetch is served by a data source returning the event,
 * so entity fetches to other subgraphs and the response shaping are Apollo's.
 */
export async function executeEvent(r: EventRequest, event: Record<string, unknown>): Promise<ExecutionResult> {
  const primary: FetchNode = { ...r.plan.primary, serviceName: EVENT_SOURCE };
  const queryPlan: QueryPlan = { kind: 'QueryPlan', node: r.plan.rest ? { kind: 'Sequence', nodes: [primary, r.plan.rest] } : primary };
  // Apollo merges fetched entities into the data it is given: each execution gets its own copy.
  const source = { process: async () => ({ data: structuredClone(event) }) } as unknown as GraphQLDataSource<GatewayContext>;
  const requestContext = {
    request: { query: r.query, operationName: r.operationName ?? undefined, variables: r.variables ?? {} },
    context: r.context,
    metrics: {},
    logger: undefined,
    cache: undefined,
  };
  const result = await executeQueryPlan(queryPlan, { ...r.dataSources, [EVENT_SOURCE]: source }, requestContext as never, r.plan.operationContext, r.planner.supergraphSchema, r.planner.apiSchema);
  return result as ExecutionResult;
}
