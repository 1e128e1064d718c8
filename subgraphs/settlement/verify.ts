import { getAddress } from 'ethers';
import { errorCode } from '../kit/errors.js';
import { AmountError, cashAmountOf } from './domain/amounts.js';
import type { FailureCode } from './domain/status.js';
import { transition } from './lifecycle.js';
import { fail, refusal, reject } from './outcomes.js';
import type { AccountInfo } from './peers.js';
import { SERVICE_ACTOR, isTransient, message, type SettlementServices } from './services.js';
import { updateSettlement, type Held, type RuleResultJson, type SettlementPatch, type SettlementRow } from './store/settlements.js';

/**
 * Verification at settlement time (RECEIVED, or a FAILED one tried again):
 * the token and both accounts as their owners know them now, every transfer
 * rule at issuance (identity and qualified status of both parties, holding
 * periods, holder caps, jurisdiction...), the assets held at custody for this
 * settlement, and on chain the buyer's verified identity and both balances.
 * Ends in VERIFIED, REJECTED (with every reason) or FAILED (with a code).
 */

type Side = 'sell' | 'buy';
const awaiting = (side: Side): FailureCode => (side === 'sell' ? 'AWAITING_SECURITIES' : 'AWAITING_CASH');

/** Settlement's own reservation keys at custody: derived from the settlement, so that a release after any crash finds them. */
export function heldKeys(row: SettlementRow): { side: Side; key: string; amount: bigint; tradingKey?: string; asset: string }[] {
  if (row.source === 'TRADING') {
    const shares = row.trading_reservations ?? { sell: [], buy: [] };
    return (['sell', 'buy'] as const).flatMap((side) => shares[side].map((sh, i) => ({ side, key: `stl:${row.id}:${side}:${i}`, amount: BigInt(sh.amount), tradingKey: sh.key, asset: sh.asset })));
  }
  return [
    { side: 'sell', key: `stl:${row.id}:sell`, amount: BigInt(row.quantity), asset: row.token_id },
    { side: 'buy', key: `stl:${row.id}:buy`, amount: BigInt(row.cash_amount ?? 0), asset: row.cash_asset },
  ];
}

class SideFailure extends Error {
  constructor(readonly side: Side, readonly inner: unknown) {
    super(message(inner));
  }
}

/** Holds what each side pays at custody under settlement's keys: trading's shares taken over, or reserved afresh for an external trade. */
async function hold(s: SettlementServices, row: SettlementRow): Promise<Held> {
  const held: Held = { sell: [], buy: [] };
  for (const k of heldKeys(row)) {
    try {
      if (k.tradingKey) await s.peers.adopt({ tradingKey: k.tradingKey, amount: k.amount, key: k.key, reason: `settlement ${row.id}` });
      else await s.peers.reserve({ accountId: k.side === 'sell' ? row.seller_account_id : row.buyer_account_id, asset: k.asset, amount: k.amount, key: k.key, reason: `settlement ${row.id}` });
      held[k.side].push({ key: k.key, amount: k.amount.toString() });
    } catch (e) {
      if (isTransient(e)) throw e;
      throw Object.assign(new SideFailure(k.side, e), { held });
    }
  }
  return held;
}

export async function verifyStep(s: SettlementServices, row: SettlementRow): Promise<SettlementRow> {
  const rejectWith = (reasons: RuleResultJson[], patch: SettlementPatch = {}, detail: Record<string, unknown> = {}) =>
    s.commit.tx((q) => reject(q, s, row, reasons, { patch, detail }));
  const failWith = (code: FailureCode, reason: string, patch: SettlementPatch = {}) => s.commit.tx((q) => fail(q, s, row, code, reason, { patch }));

  // The token and both parties, as issuance and custody know them now.
  const token = await s.peers.token(row.token_id);
  if (!token) return rejectWith([refusal('UNKNOWN_TOKEN', `issuance knows no token ${row.token_id}`)]);
  if (!token.chain?.token) return rejectWith([refusal('TOKEN_NOT_DEPLOYED', `token ${token.symbol} is not deployed on chain`)]);
  const [buyer, seller] = await Promise.all([s.peers.account(row.buyer_account_id), s.peers.account(row.seller_account_id)]);
  const parties: [string, AccountInfo | null, string | null][] = [['buyer', buyer, row.buyer_investor_id], ['seller', seller, row.seller_investor_id]];
  const unknown = parties.filter(([, a]) => !a).map(([side]) => refusal('UNKNOWN_ACCOUNT', `custody knows no ${side} account ${side === 'buyer' ? row.buyer_account_id : row.seller_account_id}`));
  if (unknown.length) return rejectWith(unknown);
  const mismatched = parties.filter(([, a, inv]) => inv && a!.investorId !== inv)
    .map(([side, a, inv]) => refusal('ACCOUNT_INVESTOR_MISMATCH', `the ${side} account belongs to ${a!.investorId}, the trade names ${inv}`));
  if (mismatched.length) return rejectWith(mismatched);

  let cash: bigint;
  try {
    cash = row.cash_amount ? BigInt(row.cash_amount) : cashAmountOf(row.price, BigInt(row.quantity), token.decimals, s.config.SETTLEMENT_CASH_DECIMALS);
  } catch (e) {
    if (e instanceof AmountError) return rejectWith([refusal(e.code, e.message)]);
    throw e;
  }
  const facts: SettlementPatch = {
    cash_amount: cash.toString(), buyer_investor_id: buyer!.investorId, seller_investor_id: seller!.investorId, buyer_org: buyer!.org, seller_org: seller!.org,
    buyer_wallet: getAddress(buyer!.walletAddress), seller_wallet: getAddress(seller!.walletAddress), token_address: getAddress(token.chain.token), token_chain: token.chain,
  };
  const current = { ...row, ...facts } as SettlementRow;

  // Every transfer rule, at issuance, for this very transfer now.
  let eligibility;
  try {
    eligibility = await s.peers.eligibility({
      tokenId: row.token_id, fromInvestorId: seller!.investorId, toInvestorId: buyer!.investorId, amount: BigInt(row.quantity), at: s.now(), occasion: row.occasion,
    });
  } catch (e) {
    const code = errorCode(e);
    if (!code || isTransient(e)) throw e;
    return rejectWith([refusal(code, message(e))], facts);
  }
  const stored = { allowed: eligibility.allowed, results: eligibility.results, evaluatedAt: eligibility.evaluatedAt };
  if (!eligibility.allowed) {
    return rejectWith(eligibility.results.filter((r) => !r.passed), { ...facts, eligibility: stored }, { rules: eligibility.results.map((r) => [r.code, r.passed]) });
  }

  // What each side pays, held at custody for this settlement.
  let held: Held;
  try {
    held = await hold(s, current);
  } catch (e) {
    if (!(e instanceof SideFailure)) throw e;
    const partial = (e as SideFailure & { held: Held }).held;
    const patch = { ...facts, eligibility: stored, ...(partial.sell.length || partial.buy.length ? { held: partial, held_state: 'HELD' as const } : {}) };
    return failWith(awaiting(e.side), `custody could not hold the ${e.side === 'sell' ? 'securities' : 'cash'}: ${e.message}`, patch);
  }
  const withHeld: SettlementPatch = { ...facts, eligibility: stored, held, held_state: 'HELD' };

  // On chain: the buyer's identity is verified, and the wallets hold what the books say.
  if (s.chain.configured) {
    const check = await chainPreflight(s, { ...current, ...withHeld } as SettlementRow);
    if ('code' in check) return failWith(check.code, check.reason, { ...withHeld, ...check.patch });
    Object.assign(withHeld, check.patch);
  }

  const gross = row.mode === 'GROSS' && s.chain.configured;
  return s.commit.tx((q) => transition(q, row, 'VERIFIED', {
    actor: SERVICE_ACTOR,
    patch: { ...withHeld, next_attempt_at: gross ? s.now() : null, lease_until: null, last_error: null },
    detail: { rules: eligibility.results.map((r) => [r.code, r.passed]), evaluatedAt: eligibility.evaluatedAt, held, buyerWallet: facts.buyer_wallet, sellerWallet: facts.seller_wallet, cashAmount: cash.toString() },
  }));
}

/**
 * The chain's side of verification: the cash token's contract, the buyer's
 * wallet verified in the token's identity registry, and (gross) the seller's
 * securities and the buyer's cash on chain.
 */
export async function chainPreflight(s: SettlementServices, row: SettlementRow): Promise<{ patch: SettlementPatch } | { code: FailureCode; reason: string; patch: SettlementPatch }> {
  const cashToken = await s.peers.assetContract(row.cash_asset);
  if (!cashToken) return { code: 'CHAIN_ERROR', reason: `custody has no contract address for the cash asset ${row.cash_asset}`, patch: {} };
  const patch: SettlementPatch = { cash_token_address: getAddress(cashToken) };
  const registry = row.token_chain?.identityRegistry;
  if (registry) {
    const id = await s.chain.identityOf(registry, row.buyer_wallet!);
    if (!id.verified) return { code: 'COUNTERPARTY_INELIGIBLE', reason: `the buyer's wallet ${row.buyer_wallet} is not verified in the token's identity registry yet`, patch };
  }
  if (row.mode === 'GROSS') {
    const [securities, money] = await Promise.all([s.chain.balanceOf(row.token_address!, row.seller_wallet!), s.chain.balanceOf(patch.cash_token_address!, row.buyer_wallet!)]);
    if (securities < BigInt(row.quantity)) return { code: 'AWAITING_SECURITIES', reason: `the seller's wallet holds ${securities} on chain, the trade delivers ${row.quantity}`, patch };
    if (money < BigInt(row.cash_amount!)) return { code: 'AWAITING_CASH', reason: `the buyer's wallet holds ${money} of the cash token on chain, the trade pays ${row.cash_amount}`, patch };
  }
  return { patch };
}

/**
 * A settlement VERIFIED while no chain was configured: the chain's checks now,
 * FAILED if they refuse, else its chain facts recorded (it stays VERIFIED).
 */
export async function completeChainFacts(s: SettlementServices, row: SettlementRow): Promise<SettlementRow | null> {
  const check = await chainPreflight(s, row);
  if ('code' in check) {
    await s.commit.tx((q) => fail(q, s, row, check.code, check.reason, { patch: check.patch }));
    return null;
  }
  return updateSettlement(s.db, row, 'VERIFIED', check.patch);
}
