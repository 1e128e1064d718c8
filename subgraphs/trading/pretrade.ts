/**
 * Pre-trade checks of an order: every reason it may not enter the book,
 * gathered at once (venue, subscriber, instrument rules, the account's
 * owner, compliance at issuance). The custody reservation comes after, in
 * orders.ts, only when nothing else refuses the order.
 */
import { canSee, investorOnly } from '../kit/access.js';
import type { Caller } from '../kit/auth.js';
import { errorCode } from '../kit/errors.js';
import { isOpen } from './domain/hours.js';
import { buyerMayReceive, sellerMayDeliver, type ComplianceAnswer } from './compliance.js';
import type { AccountFacts, TokenFacts } from './peers.js';
import { instrumentRules, reason, sizeAndPriceReasons, type Reason } from './rules.js';
import type { TradingServices } from './services.js';
import type { EntryFacts } from './store/venue.js';

export interface OrderFacts {
  tokenId: string;
  accountId: string;
  side: 'BUY' | 'SELL';
  type: 'LIMIT' | 'MARKET';
  /** The limit price; null for a market order (its protection price is checked by `protection`). */
  price: bigint | null;
  quantity: bigint;
}

export interface CheckResult {
  reasons: Reason[];
  account: AccountFacts | null;
  token: TokenFacts | null;
  compliance?: ComplianceAnswer;
}

const unavailable = (service: string, e: unknown): Reason =>
  reason(errorCode(e)?.startsWith('DOWNSTREAM.') ? 'DOWNSTREAM.UNAVAILABLE' : (errorCode(e) ?? 'DOWNSTREAM.FAILED'), `${service}: ${(e as Error).message}`);

/** Venue and instrument checks that need only this subgraph's own state (`read`: the facts already read with the order's intake). */
export async function venueReasons(s: TradingServices, caller: Caller, o: Omit<OrderFacts, 'accountId'>, now: Date, read?: EntryFacts): Promise<Reason[]> {
  const out: Reason[] = [];
  const f = read ?? await s.entry.request({ tokenId: o.tokenId, org: caller.org });
  if (!isOpen(s.rules.hours, now)) out.push(reason('TRADING.MARKET_CLOSED', `the venue is closed (trading hours ${s.rules.hours.text})`));
  // Orders at the old price and quantity mean nothing once the lots are scaled: refused until the split is DONE.
  if (f.split_id) out.push(reason('TRADING.SPLIT_IN_PROGRESS', `${o.tokenId} is being split (split ${f.split_id}); orders are refused until it is done`));
  if (f.halted) out.push(reason('TRADING.MARKET_HALTED', `trading in ${o.tokenId} is halted: ${f.halt_reason ?? 'by the operator'}`));
  else if (f.issuer_paused) out.push(reason('TRADING.MARKET_HALTED', `trading in ${o.tokenId} is halted: the issuer paused the token`));
  if (caller.kind !== 'service' && f.sub_status !== 'ADMITTED') {
    out.push(reason('TRADING.SUBSCRIBER_NOT_ADMITTED', f.sub_status ? `organisation ${caller.org} is suspended from the venue: ${f.sub_reason}` : `organisation ${caller.org} is not an admitted subscriber of the venue`));
  }
  const lastPrice = f.last_price ? BigInt(f.last_price) : null;
  out.push(...sizeAndPriceReasons(instrumentRules(s.rules, o.tokenId), o.price, o.quantity, lastPrice));
  return out;
}

/** Everything that refuses the order, local and remote (`facts`: the venue's, read with the order's intake). */
export async function checkOrder(s: TradingServices, caller: Caller, o: OrderFacts, now: Date, facts?: EntryFacts): Promise<CheckResult> {
  const reasons: Reason[] = [];
  const [local, token, account] = await Promise.all([
    venueReasons(s, caller, o, now, facts),
    s.peers.token(o.tokenId).catch((e) => { reasons.push(unavailable('issuance', e)); return undefined; }),
    s.peers.account(o.accountId).catch((e) => { reasons.push(unavailable('custody', e)); return undefined; }),
  ]);
  reasons.unshift(...local);
  if (token === null) reasons.push(reason('TRADING.UNKNOWN_TOKEN', `no security token ${o.tokenId}`));
  if (token?.paused && !reasons.some((r) => r.code === 'TRADING.MARKET_HALTED')) reasons.push(reason('TRADING.MARKET_HALTED', `the issuer paused ${token.symbol}`));
  if (account === null) reasons.push(reason('TRADING.UNKNOWN_ACCOUNT', `no custody account ${o.accountId}`));
  // Orders are placed for the caller's own accounts only: an operator's powers do not include trading for others.
  const mine = account && canSee(caller, { org: account.org, investorId: account.investorId });
  if (account && !mine) reasons.push(reason('TRADING.ACCOUNT_NOT_YOURS', `custody account ${o.accountId} does not belong to ${investorOnly(caller) ? 'you' : `organisation ${caller.org}`}`));
  let compliance: ComplianceAnswer | undefined;
  if (token && mine && account.investorId) {
    try {
      compliance = o.side === 'BUY'
        ? await buyerMayReceive(s.peers, o.tokenId, account.investorId, o.quantity, now)
        : await sellerMayDeliver(s.peers, o.tokenId, account.investorId, o.quantity, now);
      reasons.push(...compliance.reasons);
    } catch (e) {
      reasons.push(unavailable('issuance', e));
    }
  } else if (token && mine) {
    reasons.push(reason('TRADING.NO_BENEFICIAL_OWNER', `custody account ${o.accountId} names no investor to check`));
  }
  return { reasons, account: account ?? null, token: token ?? null, compliance };
}
