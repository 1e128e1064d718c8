import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { appError } from '../subgraphs/kit/errors.js';

/**
 * Client mistakes Apollo's gateway executor would otherwise answer with a
 * 500: an operationName the document does not define (or none for a document
 * of several operations), and a subscription sent over HTTP. Both are the
 * client's to fix: 400 with a code.
 */
export function operationChecksPlugin(): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (!operation) {
            throw request.operationName
              ? appError('REQUEST.UNKNOWN_OPERATION', `the document has no operation named ${JSON.stringify(request.operationName.slice(0, 100))}`, { httpStatus: 400 })
              : appError('REQUEST.OPERATION_NAME_REQUIRED', 'the document has several operations: name the one to run in operationName', { httpStatus: 400 });
          }
          if (operation.operation === 'subscription') {
            throw appError('SUBSCRIPTION.USE_GRAPHQL_WS', 'subscriptions are served over graphql-ws (WebSocket subprotocol graphql-transport-ws) at this same /graphql URL; HTTP serves queries and mutations', { httpStatus: 400 });
          }
        },
      };
    },
  };
}
