import { CloseCode } from 'graphql-ws';

/**
 * The close codes of a graphql-ws socket, by name, wherever one is sent or
 * compared: graphql-ws's own (4400 BadRequest, 4401 Unauthorized, 4403
 * Forbidden, 4500 InternalServerError...), the gateway's, and WebSocket's.
 */
export { CloseCode };

/** Close codes the gateway adds to graphql-ws's own. */
export const GatewayCloseCode = {
  /** The client did not read its events fast enough; it may reconnect and resume with after = its last cursor. */
  SlowConsumer: 4420,
} as const;

/** RFC 6455 §7.4.1: the server met an unexpected condition (what a crash looks like on the wire). */
export const WS_INTERNAL_ERROR = 1011;

/** A subgraph refused the connection itself: reconnecting with the same credential would be refused again. */
export const CONNECTION_REFUSED: ReadonlySet<number> = new Set([CloseCode.BadRequest, CloseCode.Unauthorized, CloseCode.Forbidden]);
