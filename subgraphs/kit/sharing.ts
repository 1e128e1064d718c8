/**
 * What the gateway may share between callers on a public subscription: one
 * upstream subscription and one execution of the rest of the plan for every
 * client that asks the same thing, whatever its organisation, instead of one
 * per identity.
 *
 * A subscription is shared only when its root field is listed in
 * SHARED_STREAMS with no arguments but the listed ones, and every field it
 * selects (on any type, in any subgraph) is listed in CALLER_INDEPENDENT_FIELDS.
 * Anything not listed counts as depending on the caller, and the gateway runs
 * it once per identity, as each subgraph's resolvers would for that caller.
 *
 * Listing a field here is a visibility decision, the complement of access.ts
 * (the one rule of who sees what): its resolver must apply none of that rule
 * (no canSee, scope, role or operator check) and answer the same to every
 * authenticated caller, and the stream must admit every authenticated caller
 * and send each the same events. test/gateway/subscription-sharing.test.ts checks every
 * listed field against per-identity execution for several organisations,
 * investors and roles.
 */

/** Subscription fields whose events and admission are the same for every authenticated caller, with the arguments that keep them so. */
export const SHARED_STREAMS: Readonly<Record<string, readonly string[]>> = {
  // A token's fills and book changes are public market data; an accountId scopes the stream to one organisation (not shared).
  tradeExecuted: ['tokenId', 'after'],
  orderBookChanged: ['tokenId', 'after'],
};

/** Fields whose value does not depend on who asks. Each side's account and fee, settlements and cap tables are not here. */
export const CALLER_INDEPENDENT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  TradeExecution: ['cursor', 'trade'],
  Trade: ['id', 'cursor', 'token', 'price', 'quantity', 'cashAmount', 'aggressorSide', 'buyOrderId', 'sellOrderId', 'executedAt'],
  SecurityToken: ['id', 'name', 'symbol', 'decimals', 'exemption', 'status', 'paused', 'lastPrice'],
  OrderBookChange: ['cursor', 'tokenId', 'bookSeq', 'changes'],
  PriceLevelChange: ['side', 'price', 'quantity', 'orders'],
};

/** Whether a subscription root field with these arguments is the same stream for every caller. */
export function sharedStream(field: string, args: readonly string[]): boolean {
  const allowed = Object.hasOwn(SHARED_STREAMS, field) ? SHARED_STREAMS[field] : undefined;
  return !!allowed && args.every((a) => allowed.includes(a));
}

/** Whether a field of a type answers the same to every caller. */
export function callerIndependent(type: string, field: string): boolean {
  if (field === '__typename') return true;
  return Object.hasOwn(CALLER_INDEPENDENT_FIELDS, type) && CALLER_INDEPENDENT_FIELDS[type].includes(field);
}
