import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from '../../subgraphs/kit/log.js';
import type { GatewayContext } from '../context.js';
import { decide, locked, notInList, persistedQueryOf, refusal, type ClientPolicy, type OperationIndex } from './policy.js';
import { PREPARING } from './prepare.js';

/**
 * Applies each client's persisted-operation policy before Apollo resolves the
 * request (and before its APQ cache is consulted): a refusal ends the
 * request; a recognised operation runs as the manifest's text and name.
 */
export function persistedOperationsPlugin(ops: OperationIndex, bearerPolicy: ClientPolicy, log: Logger): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request, contextValue }) {
      if (contextValue.caller === PREPARING) return;
      const policy = contextValue.partner ?? bearerPolicy;
      const pq = persistedQueryOf(request.extensions);
      const d = pq.kind === 'malformed' ? pq.refusal : decide(policy, { query: request.query, hash: pq.hash }, ops);
      if (d.kind === 'refuse') {
        // Apollo turns an error thrown here into a bare 500; one thrown from didResolveOperation becomes
        // the response (with its code and HTTP status). A trivial document carries the request there.
        request.query = '{ __typename }';
        request.operationName = undefined;
        delete request.extensions?.persistedQuery;
        return { async didResolveOperation() { throw refusal(d); } };
      }
      if (d.operation) {
        request.query = d.operation.body;
        request.operationName ??= d.operation.name; // the plan prepared at start is keyed by the name too
        delete request.extensions?.persistedQuery; // already resolved: no APQ lookup or registration
      }
      if (locked(policy.mode)) {
        // Whatever path the text took (the list, APQ's cache), what executes must be on the list.
        return { async didResolveOperation({ queryHash }) { if (!policy.allowed.has(queryHash)) throw refusal(notInList); } };
      }
      if (policy.mode !== 'LOG_UNKNOWN') return;
      return {
        async didResolveSource({ queryHash, source }) {
          if (policy.allowed.has(queryHash)) return;
          log.warn({ partner: contextValue.partner?.name, org: contextValue.caller.org, id: queryHash, operation: source.slice(0, 2000) }, 'operation not in the client\'s persisted list');
        },
      };
    },
  };
}
