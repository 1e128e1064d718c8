import { buildOperationContext } from '@apollo/gateway';
import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode } from '@apollo/query-planner';
import { GraphQLError, print, type DocumentNode, type GraphQLSchema } from 'graphql';
import { resumableOperation, type UpstreamOperation } from './resume.js';
import { sharedAcrossCallers } from './sharing.js';

export type OperationContext = ReturnType<typeof buildOperationContext>;

/** How one client subscription runs: the primary at its subgraph, then the rest for each event. */
export interface SubscriptionPlan {
  serviceName: string;
  primary: FetchNode;
  rest?: PlanNode;
  upstream: UpstreamOperation;
  operationContext: OperationContext;
  /** The same for every caller it admits (kit/sharing.ts): one upstream and one execution serve every identity. */
  shared: boolean;
}

/**
 * Apollo's query planner over one supergraph. @apollo/gateway plans
 * subscriptions (a Subscription node: the primary fetch plus the rest) but
 * refuses to execute them; the gateway's subscription executor takes it from here.
 */
export class SubscriptionPlanner {
  readonly apiSchema: Schema;
  /** graphql-js schemas: the public one (validation) and the supergraph (execution of the rest). */
  readonly schema: GraphQLSchema;
  readonly supergraphSchema: GraphQLSchema;
  private readonly planner: QueryPlanner;
  private readonly cache = new Map<string, SubscriptionPlan>();

  constructor(readonly supergraphSdl: string, private readonly cacheSize = 500) {
    const supergraph = Supergraph.build(supergraphSdl);
    this.apiSchema = supergraph.apiSchema();
    this.schema = this.apiSchema.toGraphQLJSSchema();
    this.supergraphSchema = supergraph.schema.toGraphQLJSSchema();
    this.planner = new QueryPlanner(supergraph);
  }

  /** The plan of a validated subscription document (cached by its text and operation name). */
  plan(document: DocumentNode, operationName?: string | null): SubscriptionPlan {
    const key = `${operationName ?? ''}\n${print(document)}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const operation = operationFromDocument(this.apiSchema, document, { operationName: operationName ?? undefined });
    const node = this.planner.buildQueryPlan(operation).node;
    if (node?.kind !== 'Subscription') throw new GraphQLError('only subscriptions are served over graphql-ws here; send queries and mutations over HTTP', { extensions: { code: 'SUBSCRIPTION.NOT_A_SUBSCRIPTION' } });
    const plan: SubscriptionPlan = {
      serviceName: node.primary.serviceName,
      primary: node.primary,
      rest: node.rest,
      upstream: resumableOperation(node.primary.operation, this.schema),
      operationContext: buildOperationContext({ schema: this.schema, operationDocument: document, operationName: operationName ?? undefined }),
      shared: sharedAcrossCallers(this.schema, document, operationName),
    };
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, plan);
    return plan;
  }
}
