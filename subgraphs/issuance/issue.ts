import { getAddress, id as topicId } from 'ethers';
import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { replayOf, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import type { ComplianceConfig } from './domain/compliance/index.js';
import { checkIdempotencyKey, investorById, positive, tokenOfIssuer } from './access.js';
import { chainFailure, type IssuanceChain } from './chain/runtime.js';
import { requireDeployed } from './deploy.js';
import { transferEligibility, type EligibilityResult } from './eligibility.js';
import { walletsOf } from './store/holdings.js';
import { refuseDuringSplit } from './store/splits.js';
import { audit } from './store/records.js';
import { enqueueChainJob } from './store/chain.js';
import { insertIssuance, insertPurchase, issuanceByKey, issuanceDone, issuanceFailed, upsertIssuedLot } from './store/issuances.js';

export interface IssueInput {
  idempotencyKey: string; tokenId: string; investorId: string; wallet?: string | null; amount: bigint;
  acquiredAt?: Date | null; priceCents?: bigint | null;
}

export interface IssueResult { id: string; status: string; txHash: string | null; eligibility: EligibilityResult }

const TRANSFER = topicId('Transfer(address,address,uint256)');

/** The compliance engine's answer for the issuance now (a replay's answer too: the outcome stored is the mint's). */
const eligibilityOf = (db: Db, config: ComplianceConfig, tokenId: string, input: IssueInput): Promise<EligibilityResult> => transferEligibility(db, config, {
  tokenId, fromInvestorId: null, toInvestorId: input.investorId, amount: input.amount, at: new Date(), kind: 'PRIMARY_ISSUANCE', priceCents: input.priceCents ?? undefined,
});

/**
 * Primary issuance: the compliance engine decides first (a refusal is
 * returned with every reason and writes nothing), then the intent is
 * recorded, the tokens minted, and the lot recorded with its acquisition date.
 * A retry with the same key returns the recorded outcome; an intent whose mint
 * outcome is unknown (the process died mid-mint) is never minted again.
 */
export async function issueTokens(
  db: Db, chain: IssuanceChain, config: ComplianceConfig, caller: Caller, input: IssueInput,
  hooks: { beforeMint(): Promise<void>; afterMint(): Promise<void> },
): Promise<IssueResult> {
  checkIdempotencyKey(input.idempotencyKey);
  positive(input.amount);
  if (input.priceCents !== undefined && input.priceCents !== null && input.priceCents < 0n) throw badInput('INVALID_PRICE', 'priceCents cannot be negative');
  const token = await tokenOfIssuer(db, caller, input.tokenId, ['ISSUER_AGENT']);
  const hash = requestHash(input);
  // A replay gets its recorded outcome whatever happened since (a split under way, the token redeemed, the wallet
  // replaced): looked up before any check of the current state.
  const prior = replayOf(await issuanceByKey(db, caller.org, input.idempotencyKey), hash, input.idempotencyKey);
  if (prior) {
    if (prior.status === 'PENDING') throw appError('ISSUANCE.ISSUANCE_IN_DOUBT', `issuance ${prior.id} started but its mint outcome is unknown; reconcile before retrying`, { details: { issuanceId: prior.id } });
    return { id: prior.id, status: prior.status, txHash: prior.tx_hash, eligibility: await eligibilityOf(db, config, token.id, input) };
  }
  const addresses = requireDeployed(token);
  // ERC-3643 mints while the token is paused: a split's pause does not stop an issuance, this does.
  await refuseDuringSplit(db, [token.id], 'an issuance');
  const investor = await investorById(db, input.investorId);
  const wallets = (await walletsOf(db, [investor.id])).filter((w) => w.status === 'ACTIVE');
  const wallet = input.wallet ? wallets.find((w) => w.address.toLowerCase() === input.wallet!.toLowerCase()) : wallets[0];
  if (!wallet) throw appError('ISSUANCE.NO_WALLET', input.wallet ? `wallet ${input.wallet} is not an active wallet of ${investor.id}` : `investor ${investor.id} has no active wallet`);
  const acquiredAt = input.acquiredAt ?? new Date();
  if (acquiredAt.getTime() > Date.now() + 60_000) throw badInput('INVALID_ACQUISITION_DATE', 'acquiredAt cannot be in the future');

  const eligibility = await eligibilityOf(db, config, token.id, input);
  if (!eligibility.allowed) return { id: '', status: 'REJECTED', txHash: null, eligibility };

  const { row, created } = await db.tx((q) => insertIssuance(q, {
    id: newId('iss'), tokenId: token.id, investorId: investor.id, wallet: wallet.address, amount: input.amount, priceCents: input.priceCents ?? null, acquiredAt,
    org: caller.org, idempotencyKey: input.idempotencyKey, requestHash: hash,
  }));
  if (!created) return { id: row.id, status: row.status, txHash: row.tx_hash, eligibility }; // a concurrent retry won

  // A wallet onboarded a moment ago must be registered (and its claims on) before the token accepts the mint.
  await hooks.beforeMint();
  let txHash: string;
  let logIndex: number;
  try {
    const suite = await chain.suite(addresses);
    const receipt = await suite.client.send(suite.token.mint(getAddress(wallet.address), input.amount));
    txHash = receipt.hash;
    const log = receipt.logs.find((l) => l.topics[0] === TRANSFER);
    logIndex = log ? log.index : 0;
  } catch (e) {
    // The mint did not happen (reverted or never sent): the intent is closed as FAILED, and the key may not be reused.
    await issuanceFailed(db, row.id, (e as Error).message.slice(0, 500));
    throw chainFailure(e, 'minting failed');
  }
  await db.tx(async (q) => {
    await issuanceDone(q, row.id, txHash);
    // The indexer may have seen the mint first: then its lot takes the acquisition date given here.
    const lotId = await upsertIssuedLot(q, { id: newId('lot'), tokenId: token.id, investorId: investor.id, amount: input.amount, acquiredAt, txHash, logIndex: logIndex * 100 });
    await insertPurchase(q, {
      issuanceId: row.id, tokenId: token.id, investorId: investor.id, exemption: token.exemption, accredited: investor.accredited === true,
      amountCents: input.priceCents ?? 0n, at: acquiredAt,
    });
    await audit(q, caller, 'token.issued', token.id, null, { issuanceId: row.id, investorId: investor.id, wallet: wallet.address, amount: input.amount, txHash, lotId });
    // The new lot's holding period goes on chain as a lock on the wallet.
    await enqueueChainJob(q, 'SYNC_LOCKS', investor.id, { tokenId: token.id });
    await appendEvent(q, 'token.issued', token.id, { tokenId: token.id, investorId: investor.id, wallet: wallet.address, amount: input.amount, txHash });
  });
  await hooks.afterMint(); // wakes the indexer and the chain jobs; they also run on their own schedule
  return { id: row.id, status: 'DONE', txHash, eligibility };
}
