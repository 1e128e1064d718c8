import { TypeInfo, getOperationAST, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import { callerIndependent, sharedStream } from '../../subgraphs/kit/sharing.js';

/** How far the gateway shares subscriptions (the GATEWAY_SUBSCRIPTION_SHARING setting). */
export const SHARING_MODES = ['callers', 'identity'] as const;
export type SharingMode = (typeof SHARING_MODES)[number];

/**
 * Whether a validated subscription document is the same for every caller it
 * admits, by kit's list of shared streams and caller-independent fields. The
 * whole document is walked (every operation and fragment, whichever is run),
 * so that anything not listed keeps the operation per identity.
 */
export function sharedAcrossCallers(schema: GraphQLSchema, document: DocumentNode, operationName?: string | null): boolean {
  const subscription = schema.getSubscriptionType();
  if (!subscription || getOperationAST(document, operationName)?.operation !== 'subscription') return false;
  const types = new TypeInfo(schema);
  let shared = true;
  visit(document, visitWithTypeInfo(types, {
    Field(node) {
      const parent = types.getParentType();
      const name = node.name.value;
      const ok = parent === subscription
        ? name === '__typename' || sharedStream(name, (node.arguments ?? []).map((a) => a.name.value))
        : !!parent && callerIndependent(parent.name, name);
      if (!ok) shared = false;
    },
  }));
  return shared;
}
