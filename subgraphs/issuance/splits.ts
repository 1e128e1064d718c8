/**
 * Splits and reverse splits, applied at their effective date in three steps
 * a restart can resume at any point:
 *
 * 1. The token is paused (nothing trades while balances change), the holdings
 *    indexer catches up, and in one transaction every open lot is replaced by
 *    a scaled lot with the same dates (acquired, holding period start: the
 *    Rule 144 clock does not restart, 17 CFR 230.144(d)(3)(i)), each wallet gets a target balance, and
 *    each holder's fraction is recorded as cash in lieu owed.
 * 2. The chain is moved to the targets: the agent mints the difference to each
 *    holder (split) or burns it (reverse split), in batches. What to send is
 *    read from the chain each time (target - balance), so a retry after a
 *    crash sends only what is missing and never twice.
 * 3. Once the indexer shows every wallet at its target, the token is unpaused
 *    (if the split paused it) and the split is DONE.
 */
import type { Caller } from '../kit/auth.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { replayOf, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import type { Logger } from '../kit/log.js';
import { appendEvent } from '../kit/outbox.js';
import { checkIdempotencyKey, tokenOfIssuer } from './access.js';
import { balancesOf, sendMoves, type Move } from './chain/batch-moves.js';
import { chainFailure, type IssuanceChain } from './chain/runtime.js';
import { checkRatio, scaleUnitLimits, splitHolder, splitLots, SplitInputError, walletTargets, type Ratio } from './domain/split.js';
import { requireDeployed } from './deploy.js';
import { checkPayment, type DistributionEnv } from './distributions.js';
import { fixCashInLieu } from './split-cash.js';
import { lotsOfToken, positionsOfToken } from './store/holdings.js';
import { redemptionOfToken } from './store/redemptions.js';
import { audit } from './store/records.js';
import { enqueueChainJob } from './store/chain.js';
import {
  addSplitTxHashes, consumeLotsForSplit, dueSplits, holdingsOfToken, insertHolders, insertMoves, insertSplit, insertSplitLot, movesOf, splitById, splitByKey, splitDone,
  splitFailed, splitOnChain, splitPending, type SplitHolderRow, type SplitMoveRow, type SplitRow,
} from './store/splits.js';
import { setPolicy, setTokenPaused, tokenRow, type TokenRow } from './store/tokens.js';

export interface SplitEnv {
  db: Db;
  chain: IssuanceChain;
  now(): Date;
  /** Applies the chain's transfers to the books (the holdings indexer's pass). */
  syncHoldings(): Promise<void>;
  /** Largest numerator or denominator (SPLIT_MAX_FACTOR). */
  maxFactor: bigint;
  /** Wallets per batchMint / batchBurn transaction (SPLIT_BATCH_SIZE). */
  batchSize: number;
  log: Logger;
  /** Cash in lieu: withholding rates, custody's account records (the paying account), and a nudge to pay what is due. */
  cash: Pick<DistributionEnv, 'withholding' | 'custodyAccount' | 'kickPayments'>;
}

export interface AnnounceSplitInput {
  tokenId: string; numerator: bigint; denominator: bigint; effectiveDate: Date; cashInLieuPrice: bigint; idempotencyKey: string;
  /** The custody account the cash in lieu is paid from; required when cashInLieuPrice > 0. */
  payingAccountId?: string | null;
}

const SYSTEM: Caller = { kind: 'service', subject: 'issuance', org: 'tokenstack', roles: [], token: '' };
const MAX_UINT256 = (1n << 256n) - 1n;

export async function announceSplit(env: SplitEnv, caller: Caller, input: AnnounceSplitInput): Promise<SplitRow> {
  checkIdempotencyKey(input.idempotencyKey);
  const token = await tokenOfIssuer(env.db, caller, input.tokenId, ['ISSUER_AGENT']);
  const payingAccountId = input.payingAccountId ?? null;
  const hash = requestHash({
    tokenId: token.id, numerator: input.numerator, denominator: input.denominator, effectiveDate: input.effectiveDate, cashInLieuPrice: input.cashInLieuPrice,
    ...(payingAccountId ? { payingAccountId } : {}),
  });
  // A replay gets its split back whatever happened since (a redemption announced, a setting lowered): before any check.
  const prior = replayOf(await splitByKey(env.db, caller.org, input.idempotencyKey), hash, input.idempotencyKey);
  if (prior) return prior;
  try {
    checkRatio({ numerator: input.numerator, denominator: input.denominator }, env.maxFactor);
  } catch (e) {
    if (e instanceof SplitInputError) throw badInput(e.code, e.message);
    throw e;
  }
  if (input.cashInLieuPrice < 0n || input.cashInLieuPrice > MAX_UINT256) throw badInput('INVALID_PRICE', 'cashInLieuPrice must be between 0 and 2^256 - 1 cash base units');
  if (input.cashInLieuPrice > 0n && !payingAccountId) throw badInput('PAYING_ACCOUNT_REQUIRED', 'a cashInLieuPrice above 0 needs the payingAccountId the cash is paid from');
  if (payingAccountId) await checkPayment(env.db, env.cash, token, 'CASH', payingAccountId);
  if (!token.chain) throw appError('ISSUANCE.TOKEN_NOT_DEPLOYED', `token ${token.id} is not on chain: there is nothing to split`);
  requireDeployed(token); // a redeemed token is retired
  return env.db.tx(async (q) => {
    // Under the token's lock, as announceRedemption checks the splits: of a split and a redemption announced at once, one is refused.
    await tokenOf(q, token.id, true);
    // A retry that raced the first request finds its split here, before the checks that split would now fail.
    const raced = replayOf(await splitByKey(q, caller.org, input.idempotencyKey), hash, input.idempotencyKey);
    if (raced) return raced;
    if (await splitPending(q, token.id)) throw appError('SPLIT.ANOTHER_PENDING', `token ${token.id} has a split not done yet; announce the next one after it`);
    const redemption = await redemptionOfToken(q, token.id);
    if (redemption) {
      throw appError('SPLIT.REDEMPTION_PENDING', `token ${token.id} is to be redeemed (redemption ${redemption.id}, ${redemption.redemption_at.toISOString()}): a split would change the units it buys back`,
        { details: { redemptionId: redemption.id } });
    }
    const { row, created } = await insertSplit(q, {
      id: newId('spl'), token_id: token.id, numerator: input.numerator.toString(), denominator: input.denominator.toString(), effective_at: input.effectiveDate,
      cash_in_lieu_price: input.cashInLieuPrice.toString(), paying_account_id: payingAccountId, announced_by: caller.subject, org: caller.org, idempotency_key: input.idempotencyKey, request_hash: hash,
    });
    if (created) {
      await audit(q, caller, 'split.announced', row.id, null, { tokenId: token.id, numerator: input.numerator, denominator: input.denominator, effectiveDate: input.effectiveDate, cashInLieuPrice: input.cashInLieuPrice, payingAccountId });
      await appendEvent(q, 'split.status', row.id, { splitId: row.id, tokenId: token.id, status: row.status, numerator: row.numerator, denominator: row.denominator, effectiveAt: row.effective_at });
    }
    return row;
  });
}

/** Moves every due split one step further; errors stay on the split (lastError) and the next pass retries. */
export async function runDueSplits(env: SplitEnv): Promise<void> {
  for (const s of await dueSplits(env.db, env.now())) {
    try {
      if (s.status === 'ANNOUNCED' && (await applyToBooks(env, s))) env.cash.kickPayments();
      const now = (await splitById(env.db, s.id))!;
      if (now.status === 'CHAIN') await moveChain(env, now);
    } catch (e) {
      const message = (e as Error).message.slice(0, 500);
      await splitFailed(env.db, s.id, message);
      env.log.warn({ splitId: s.id, err: message }, 'split will retry');
    }
  }
}

const tokenOf = async (q: Queryable, id: string, lock = false): Promise<TokenRow> => (await tokenRow(q, id, lock))!;

async function setChainPaused(env: SplitEnv, t: TokenRow, paused: boolean): Promise<void> {
  try {
    const suite = await env.chain.suite(t.chain!);
    if ((await suite.client.read<boolean>(suite.token.paused())) !== paused) await suite.client.send(paused ? suite.token.pause() : suite.token.unpause());
  } catch (e) {
    throw chainFailure(e, paused ? 'pausing for the split failed' : 'unpausing after the split failed');
  }
}

/** Step 1: pause, catch up with the chain, scale the lots and limits, fix the targets and the cash, in one transaction. Returns whether cash is owed. */
async function applyToBooks(env: SplitEnv, s: SplitRow): Promise<boolean> {
  const before = await tokenOf(env.db, s.token_id);
  // The issuer's own pause stays the issuer's: the split lifts only a pause it set.
  const pausedBySplit = !before.paused;
  await setChainPaused(env, before, true);
  await env.syncHoldings();
  const ratio: Ratio = { numerator: BigInt(s.numerator), denominator: BigInt(s.denominator) };
  const price = BigInt(s.cash_in_lieu_price);
  return env.db.tx(async (q) => {
    const split = await splitById(q, s.id, true);
    if (split?.status !== 'ANNOUNCED') return false;
    const token = await tokenOf(q, s.token_id, true);
    // The books change now (the wall clock, not the service clock that decides what is due): cap tables as of an instant read it.
    const at = new Date();
    const [positions, holdings, lots] = await Promise.all([positionsOfToken(q, s.token_id), holdingsOfToken(q, s.token_id), lotsOfToken(q, s.token_id)]);
    const holders: SplitHolderRow[] = [];
    const moves: SplitMoveRow[] = [];
    const consumed: string[] = [];
    for (const p of positions) {
      const balance = BigInt(p.balance);
      const open = lots.filter((l) => l.investor_id === p.investor_id && BigInt(l.remaining) > 0n);
      const inLots = open.reduce((sum, l) => sum + BigInt(l.remaining), 0n);
      if (inLots !== balance) throw appError('SPLIT.BOOKS_DISAGREE', `investor ${p.investor_id} holds ${balance} on chain but ${inLots} in lots; reconcile before the split`);
      const h = splitHolder(balance, ratio, price);
      holders.push({
        split_id: s.id, investor_id: p.investor_id, before: String(h.before), after: String(h.after), fraction_numerator: String(h.fractionNumerator),
        cash_in_lieu: String(h.cashInLieu), cash_status: h.cashInLieu > 0n ? 'OWED' : 'NONE',
      });
      const scaled = splitLots(open.map((l) => BigInt(l.remaining)), ratio, h.after);
      for (const [i, l] of open.entries()) {
        consumed.push(l.id);
        if (scaled[i] === 0n) continue;
        await insertSplitLot(q, { id: newId('lot'), tokenId: s.token_id, investorId: p.investor_id, amount: scaled[i], parent: l, at });
      }
      const wallets = holdings.filter((w) => w.investor_id === p.investor_id).map((w) => ({ address: w.address, balance: BigInt(w.balance) }));
      for (const w of walletTargets(wallets, h.after - h.before)) moves.push({ split_id: s.id, address: w.address, investor_id: p.investor_id, before: String(w.before), target: String(w.target) });
    }
    // Wallets the books know no investor of scale too (rounded down); no cash is owed to an unknown holder.
    for (const w of holdings.filter((x) => !x.investor_id)) {
      moves.push({ split_id: s.id, address: w.address, investor_id: null, before: w.balance, target: String((BigInt(w.balance) * ratio.numerator) / ratio.denominator) });
    }
    await consumeLotsForSplit(q, s.id, consumed, at);
    await insertHolders(q, holders);
    await insertMoves(q, moves);
    const supplyBefore = moves.reduce((sum, m) => sum + BigInt(m.before), 0n);
    const supplyAfter = moves.reduce((sum, m) => sum + BigInt(m.target), 0n);
    await splitOnChain(q, s.id, { pausedBySplit, supplyBefore, supplyAfter, at });
    await setTokenPaused(q, s.token_id, true);
    await scaleLimits(q, token, ratio, s.id);
    const owed = holders.reduce((sum, h) => sum + BigInt(h.cash_in_lieu), 0n);
    const distributionId = await fixCashInLieu(q, env.cash.withholding, SYSTEM, split, token, holders, at);
    await audit(q, SYSTEM, 'split.applied_to_books', s.id, null, { tokenId: s.token_id, holders: holders.length, supplyBefore, supplyAfter, cashInLieuOwed: owed, distributionId });
    await appendEvent(q, 'split.status', s.id, { splitId: s.id, tokenId: s.token_id, status: 'CHAIN', supplyBefore, supplyAfter });
    return distributionId !== null;
  });
}

/**
 * The policy's per-unit limits (maxBalance, minHolding) scale with the ratio, rounded in the holders' favour
 * (domain/split.ts), with the lots; the compliance module gets them by the SYNC_RULES job (a mint the old
 * cap would refuse waits for it: the chain step retries).
 */
async function scaleLimits(q: Queryable, t: TokenRow, ratio: Ratio, splitId: string): Promise<void> {
  const { maxBalance, minHolding, ...rest } = t.policy;
  if (maxBalance === undefined && minHolding === undefined) return;
  const policy = { ...rest, ...scaleUnitLimits({ maxBalance, minHolding }, ratio) };
  await setPolicy(q, t.id, policy);
  await audit(q, SYSTEM, 'token.rules_scaled_by_split', t.id, null, { splitId, before: t.policy, policy });
  await enqueueChainJob(q, 'SYNC_RULES', t.id);
  await appendEvent(q, 'token.rules_changed', t.id, { tokenId: t.id, policy });
}

/** Steps 2 and 3: send what the chain still lacks, then finish once the books show every target. */
async function moveChain(env: SplitEnv, s: SplitRow): Promise<void> {
  const t = await tokenOf(env.db, s.token_id);
  const moves = await movesOf(env.db, s.id);
  let suite;
  try {
    suite = await env.chain.suite(t.chain!);
  } catch (e) {
    throw chainFailure(e, 'split: chain unavailable');
  }
  const mints: Move[] = [];
  const burns: Move[] = [];
  const onChain = await balancesOf(suite, moves.map((m) => m.address), env.batchSize);
  for (const [i, m] of moves.entries()) {
    const diff = BigInt(m.target) - onChain[i];
    if (diff > 0n) mints.push([m.address, diff]);
    if (diff < 0n) burns.push([m.address, -diff]);
  }
  const sent = await sendMoves(suite, { mints, burns }, env.batchSize, 'split: minting or burning failed',
    (hashes) => addSplitTxHashes(env.db, s.id, hashes));
  await env.syncHoldings();
  // Done when the books (which follow the chain) show every wallet at its target.
  const books = new Map((await holdingsOfToken(env.db, s.token_id)).map((h) => [h.address.toLowerCase(), BigInt(h.balance)]));
  if (moves.some((m) => (books.get(m.address.toLowerCase()) ?? 0n) !== BigInt(m.target))) return; // the indexer has not seen it all yet: the next pass looks again
  if (s.paused_by_split) await setChainPaused(env, t, false);
  await env.db.tx(async (q) => {
    const split = await splitById(q, s.id, true);
    if (split?.status !== 'CHAIN') return;
    const at = new Date();
    await splitDone(q, s.id, at);
    if (s.paused_by_split) await setTokenPaused(q, s.token_id, false);
    // Locked amounts on chain follow the scaled lots.
    for (const investorId of new Set(moves.map((m) => m.investor_id).filter((i): i is string => !!i))) await enqueueChainJob(q, 'SYNC_LOCKS', investorId, { tokenId: s.token_id });
    await audit(q, SYSTEM, 'split.done', s.id, null, { tokenId: s.token_id, txHashes: [...s.tx_hashes, ...sent] });
    await appendEvent(q, 'split.status', s.id, { splitId: s.id, tokenId: s.token_id, status: 'DONE' });
  });
}
