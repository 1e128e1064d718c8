/**
 * The ATS operator's controls: halts (manual, and automatic while the issuer
 * pauses the token) and subscriber admission. A halt is a flag on the book's
 * row; the writer reads it under the row lock at the start of every batch,
 * so no order trades after the halt commits. Resting orders stay in the
 * book and may be cancelled; new orders and replaces are refused.
 */
import { type Caller } from '../kit/auth.js';
import { isOperator, requireOperator, type OperatorRule } from '../kit/access.js';
import type { Queryable } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import type { OutboxEvent } from '../kit/outbox.js';
import { appendEvent } from '../kit/outbox.js';
import type { TradingServices } from './services.js';
import { setHalt, setIssuerPaused, setRedemption, setSplit, openOrdersOfSplitBooks, setSubscriber, type SubscriberRow } from './store/venue.js';
import { bookHalted, type BookRow } from './store/writer.js';
import { openOrdersOfOrg } from './store/orders.js';
import { isId, isPrintable } from '../kit/inputs.js';

/** The venue's operators: ATS_OPERATOR users of TRADING_OPERATOR_ORGS (kit/access.ts). */
export const venueOperator = (s: Pick<TradingServices, 'config'>): OperatorRule => ({ orgs: s.config.TRADING_OPERATOR_ORGS, roles: ['ATS_OPERATOR'] });
export const isVenueOperator = (s: Pick<TradingServices, 'config'>, c: Caller): boolean => isOperator(c, venueOperator(s));
export const requireVenueOperator = (s: Pick<TradingServices, 'config'>, c: Caller): void => requireOperator(c, venueOperator(s), 'TRADING_OPERATOR_ORGS');

const text = (v: string, name: string) => {
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > 500) throw badInput('INVALID_REASON', `${name} must be 1 to 500 characters`);
  return v.trim();
};
const tokenId = (v: string) => {
  if (!isId(v, 'tok')) throw badInput('INVALID_TOKEN_ID', `"${String(v).slice(0, 40)}" is not a token id`);
  return v;
};

export const haltPayload = (b: BookRow, source: 'OPERATOR' | 'ISSUER' | 'SPLIT', reason: string | null) => ({
  tokenId: b.token_id, halted: bookHalted(b), splitId: b.split_id, redemptionId: b.redemption_id, operatorHalt: b.halted, issuerPaused: b.issuer_paused, source, reason,
});

export const haltTrading = (s: TradingServices, caller: Caller, token: string, reason: string) => setOperatorHalt(s, caller, token, reason, true);
export const resumeTrading = (s: TradingServices, caller: Caller, token: string, reason: string) => setOperatorHalt(s, caller, token, reason, false);

/** The ATS operator's halt or resume, with its outbox event in the same transaction. */
async function setOperatorHalt(s: TradingServices, caller: Caller, token: string, reason: string, halted: boolean): Promise<BookRow> {
  requireVenueOperator(s, caller);
  const [t, why] = [tokenId(token), text(reason, 'reason')];
  return s.db.tx(async (q) => {
    const b = await setHalt(q, t, halted, why, caller.subject);
    await appendEvent(q, halted ? 'trading.halted' : 'trading.resumed', t, haltPayload(b, 'OPERATOR', why));
    return b;
  });
}

/**
 * Issuance's feed: token.paused halts the token's market, token.unpaused lifts that halt (an operator halt stays).
 * split.status CHAIN (the lots are scaled: the old prices and quantities mean nothing now) marks the book's split in
 * progress, and the sweeper cancels its open orders (reason SPLIT); DONE clears it. redemption.status BURNING: the same,
 * reason REDEEMED.
 */
export async function onIssuerEvent(q: Queryable, e: OutboxEvent): Promise<void> {
  const t = String((e.payload as { tokenId?: unknown }).tokenId ?? '');
  if (!isId(t, 'tok')) return;
  if (e.topic === 'redemption.status') {
    // A redemption burning the holdings: marked on the book (never cleared: the token is retired), so the split's
    // sweeper cancels the open orders, reason REDEEMED. The halt itself came with token.paused.
    const { redemptionId, status } = e.payload as { redemptionId?: unknown; status?: unknown };
    if (isId(redemptionId, 'red') && status === 'BURNING') await setRedemption(q, t, redemptionId);
    return;
  }
  if (e.topic === 'split.status') {
    const { splitId, status } = e.payload as { splitId?: unknown; status?: unknown };
    if (typeof splitId !== 'string' || (status !== 'CHAIN' && status !== 'DONE')) return;
    const row = await setSplit(q, t, splitId, status === 'CHAIN');
    if (row) await appendEvent(q, status === 'CHAIN' ? 'trading.halted' : 'trading.resumed', t, haltPayload(row, 'SPLIT', `split ${splitId} ${status === 'CHAIN' ? 'in progress' : 'done'}`));
    return;
  }
  const paused = e.topic === 'token.paused';
  const { row, changed } = await setIssuerPaused(q, t, paused);
  if (changed) await appendEvent(q, paused ? 'trading.halted' : 'trading.resumed', t, haltPayload(row, 'ISSUER', (e.payload as { reason?: string }).reason ?? null));
}

export async function admitSubscriber(s: TradingServices, caller: Caller, org: string, reason: string): Promise<SubscriberRow> {
  return decide(s, caller, org, 'ADMITTED', reason);
}

/** Suspends an organisation and cancels its resting orders (an operator cancel, in each book's writer). */
export async function suspendSubscriber(s: TradingServices, caller: Caller, org: string, reason: string): Promise<SubscriberRow> {
  const row = await decide(s, caller, org, 'SUSPENDED', reason);
  const open = await openOrdersOfOrg(s.db, row.org);
  await Promise.all(open.map((o) => s.venue.submit(o.token_id, { kind: 'CANCEL', orderId: o.id, reason: 'OPERATOR', actor: caller.subject }).catch((e) => {
    s.log.warn({ orderId: o.id, err: (e as Error).message }, 'order of a suspended subscriber not cancelled yet');
  })));
  return row;
}

async function decide(s: TradingServices, caller: Caller, org: string, status: 'ADMITTED' | 'SUSPENDED', reason: string): Promise<SubscriberRow> {
  requireVenueOperator(s, caller);
  if (!isPrintable(org, 128)) throw badInput('INVALID_ORGANISATION', 'org must be 1 to 128 printable characters');
  const why = text(reason, 'reason');
  return s.db.tx(async (q) => {
    const r = await setSubscriber(q, org, status, why, caller.subject);
    await appendEvent(q, status === 'ADMITTED' ? 'subscriber.admitted' : 'subscriber.suspended', org, { org, status, reason: why, by: caller.subject });
    return r;
  });
}

/** Cancels the open orders of books whose token is being split or redeemed (the sweeper calls it; a retry finds only those left). */
export async function cancelForSplits(s: TradingServices): Promise<void> {
  for (const o of await openOrdersOfSplitBooks(s.db)) {
    const actor = o.redemption_id ? `redemption:${o.redemption_id}` : `split:${o.split_id}`;
    await s.venue.submit(o.token_id, { kind: 'CANCEL', orderId: o.id, reason: o.redemption_id ? 'REDEEMED' : 'SPLIT', actor }).catch((e) => {
      s.log.warn({ orderId: o.id, err: (e as Error).message }, 'order of a token being split not cancelled yet; the next sweep retries');
    });
  }
}
