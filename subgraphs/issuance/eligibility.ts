import type { Caller } from '../kit/auth.js';
import type { Queryable } from '../kit/db/types.js';
import { canSee, isOperator, isService, settlementOperator } from '../kit/access.js';
import { appError, badInput, notFound } from '../kit/errors.js';
import { evaluateTransfer, ComplianceInputError, type ComplianceConfig, type TransferEvaluation, type TransferKind } from './domain/compliance/index.js';
import { buildTransferInput, type SnapshotRequest } from './snapshot.js';
import { snapshotReads, type SnapshotReads } from './snapshot-reads.js';
import { positive } from './access.js';
import { issuerOrgOf } from './store/tokens.js';
import { investorOrgs } from './store/investors.js';
import { activeWalletOwner } from './store/holdings.js';
import { settleItem, type ParsedRequest } from '../kit/contracts/calls.js';

export interface EligibilityResult extends TransferEvaluation {
  evaluatedAt: Date;
}

/**
 * Whether a transfer may happen at an instant, with every rule's result.
 * A refusal is an answer, not an error; only a question that cannot be
 * asked (unknown token, zero amount) is an error.
 *
 * A secondary trade may be asked about one party alone (trading at order
 * entry, when the counterparty is not known yet): the answer decides what
 * that party settles and lists the rest as not evaluated.
 */
export async function transferEligibility(q: Queryable, config: ComplianceConfig, r: SnapshotRequest & { ownWallet?: boolean }, reads?: SnapshotReads): Promise<EligibilityResult> {
  positive(r.amount);
  const { fromInvestorId: from, toInvestorId: to } = r;
  if (r.kind === 'PRIMARY_ISSUANCE' ? from !== null || to === null : r.kind === 'FORCED_TRANSFER' ? from === null || to === null : from === null && to === null) {
    throw badInput('INVALID_TRANSFER_KIND', 'a primary issuance has a receiver and no sender; a forced transfer needs both parties; a secondary trade at least one');
  }
  if (r.fromInvestorId && r.fromInvestorId === r.toInvestorId && r.kind !== 'PRIMARY_ISSUANCE' && !r.ownWallet) {
    throw badInput('SAME_INVESTOR', 'sender and receiver are the same investor');
  }
  const input = await buildTransferInput(q, r, config, reads);
  try {
    return { ...evaluateTransfer(input, config), evaluatedAt: r.at };
  } catch (e) {
    if (e instanceof ComplianceInputError) throw appError(e.code, e.message, { details: { field: e.field } });
    throw e;
  }
}

/** The currency the engine's money figures are in: the regulations' dollar limits (Reg CF, Reg A Tier 2, Form 144). */
export const ENGINE_CURRENCY = 'USD';

/**
 * A purchase price asked about, as cents. The limits are in U.S. dollars, so
 * a price must be in dollars (the caller converts): another currency is
 * refused rather than converted at a rate the engine does not own.
 */
export function priceCentsOf(price: string | null | undefined, currency: string | null | undefined): bigint | undefined {
  if (price === null || price === undefined) {
    if (currency != null) throw badInput('PRICE_REQUIRED', 'a currency was given without a price');
    return undefined;
  }
  const cur = currency ?? ENGINE_CURRENCY;
  if (cur !== ENGINE_CURRENCY) throw badInput('UNSUPPORTED_CURRENCY', `prices are asked in ${ENGINE_CURRENCY}, the currency of the regulations' limits; got "${String(cur).slice(0, 10)}"`);
  const m = /^(\d{1,28})(?:\.(\d{1,2}))?$/.exec(price);
  if (!m) throw badInput('INVALID_PRICE', `price must be a non-negative amount of ${ENGINE_CURRENCY} with at most 2 decimals, e.g. "2500.00"`);
  return BigInt(m[1]) * 100n + BigInt((m[2] ?? '').padEnd(2, '0'));
}

/**
 * Many questions at once (trading asks for every order that arrived together):
 * an answer or a typed error per question, in order. Each is decided as the
 * single call decides it; only the reads are shared (one statement per kind
 * of row for all the questions, snapshot-reads.ts).
 */
export function eligibilityMany(q: Queryable, config: ComplianceConfig, questions: ParsedRequest<'issuance', 'transferEligibilityMany'>['questions']) {
  const now = new Date();
  const reads = snapshotReads(q);
  return Promise.all(questions.map((x) => settleItem(() => transferEligibility(q, config, {
    tokenId: x.tokenId, fromInvestorId: x.fromInvestorId, toInvestorId: x.toInvestorId, amount: x.amount, at: x.at ?? now, kind: kindOf(x.fromInvestorId, x.kind),
    priceCents: priceCentsOf(x.price, x.currency), occasion: x.occasion ?? undefined,
  }, reads))));
}

export function kindOf(from: string | null | undefined, kind: string | null | undefined): TransferKind {
  return (kind as TransferKind | undefined) ?? (from ? 'SECONDARY_TRADE' : 'PRIMARY_ISSUANCE');
}

/**
 * Who may ask about whom (the answer shows each party's KYC, AML, country,
 * accreditation): a service (trading and settlement ask on their users'
 * behalf); the token's issuer organisation and the settlement operator
 * (SETTLEMENT_OPERATOR_ORGS), about any investor; anyone else only about
 * its own investors (kit/access.ts), those its organisation registered or
 * holds a custody account for (an investor only about itself). Every named
 * party must pass. A token, or a party,
 * the caller may not ask about is NOT_FOUND, as if it did not exist.
 */
export async function assertMayAsk(q: Queryable, caller: Caller, settlementOperatorOrgs: readonly string[], tokenId: string, parties: (string | null)[]): Promise<void> {
  if (isService(caller)) return;
  const issuerOrg = await issuerOrgOf(q, tokenId);
  if (issuerOrg === undefined) throw notFound('security token', tokenId);
  if (canSee(caller, { org: issuerOrg }) || isOperator(caller, settlementOperator(settlementOperatorOrgs))) return;
  const ids = parties.filter((p): p is string => !!p);
  const rows = await investorOrgs(q, ids);
  for (const id of ids) {
    if (!rows.some((r) => r.id === id && canSee(caller, { org: r.org, investorId: r.id }))) throw notFound('investor', id);
  }
}

export interface WithdrawalQuestion { tokenId: string; fromInvestorId: string; toAddress: string; amount: bigint; at: Date }

/**
 * A withdrawal from a custody wallet to an outside address. The address must
 * be a verified wallet of a known investor (as the token's identity registry
 * would insist). To another investor it is a secondary transfer with every
 * rule; to the sender's own other wallet it changes no beneficial owner, so
 * only the issuer's controls apply (paused token, frozen wallet, frozen amount).
 */
export async function withdrawalEligibility(q: Queryable, config: ComplianceConfig, w: WithdrawalQuestion): Promise<EligibilityResult> {
  const owner = await activeWalletOwner(q, w.toAddress);
  if (!owner) {
    return {
      allowed: false, evaluatedAt: w.at, notApplicable: [], missingParty: null, notEvaluated: [], requiredFilings: [],
      results: [{ code: 'RECEIVER_WALLET_UNKNOWN' as never, passed: false, regulation: 'ERC-3643 identity registry', message: `${w.toAddress} is not a verified wallet of any investor; tokens can only go to registered wallets.` }],
    };
  }
  if (owner.investor_id !== w.fromInvestorId) {
    return transferEligibility(q, config, { tokenId: w.tokenId, fromInvestorId: w.fromInvestorId, toInvestorId: owner.investor_id, amount: w.amount, at: w.at, kind: 'SECONDARY_TRADE' });
  }
  const full = await transferEligibility(q, config, { tokenId: w.tokenId, fromInvestorId: w.fromInvestorId, toInvestorId: owner.investor_id, amount: w.amount, at: w.at, kind: 'SECONDARY_TRADE', ownWallet: true });
  const controls = new Set(['TOKEN_NOT_PAUSED', 'WALLET_NOT_FROZEN_SENDER', 'WALLET_NOT_FROZEN_RECEIVER', 'FREE_BALANCE_SENDER']);
  const results = full.results.filter((r) => controls.has(r.code));
  return {
    allowed: results.every((r) => r.passed), evaluatedAt: w.at, results, missingParty: null, notEvaluated: [], requiredFilings: [],
    notApplicable: full.results.filter((r) => !controls.has(r.code)).map((r) => r.code),
  };
}
