import { getAddress, id as topicId } from 'ethers';
import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { insertOnce, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import type { ComplianceConfig } from './domain/compliance/index.js';
import { checkIdempotencyKey, investorById, positive, tokenOfIssuer } from './access.js';
import { chainFailure, type IssuanceChain } from './chain/runtime.js';
import { requireDeployed } from './deploy.js';
import { transferEligibility, type EligibilityResult } from './eligibility.js';
import { walletsOf } from './store/holdings.js';
import { refuseDuringSplit } from './store/splits.js';
import { audit, enqueueChainJob } from './store/records.js';

export interface IssueInput {
  idempotencyKey: string; tokenId: string; investorId: string; wallet?: string | null; amount: bigint;
  acquiredAt?: Date | null; priceCents?: bigint | null;
}

export interface IssueResult { id: string; status: string; txHash: string | null; eligibility: EligibilityResult }

interface IssuanceRow { id: string; status: string; tx_hash: string | null; request_hash: string; created_at: Date }

const TRANSFER = topicId('Transfer(address,address,uint256)');

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
  const addresses = requireDeployed(token);
  // ERC-3643 mints while the token is paused: a split's pause does not stop an issuance, this does.
  await refuseDuringSplit(db, [token.id], 'an issuance');
  const investor = await investorById(db, input.investorId);
  const wallets = (await walletsOf(db, [investor.id])).filter((w) => w.status === 'ACTIVE');
  const wallet = input.wallet ? wallets.find((w) => w.address.toLowerCase() === input.wallet!.toLowerCase()) : wallets[0];
  if (!wallet) throw appError('ISSUANCE.NO_WALLET', input.wallet ? `wallet ${input.wallet} is not an active wallet of ${investor.id}` : `investor ${investor.id} has no active wallet`);
  const acquiredAt = input.acquiredAt ?? new Date();
  if (acquiredAt.getTime() > Date.now() + 60_000) throw badInput('INVALID_ACQUISITION_DATE', 'acquiredAt cannot be in the future');
  const hash = requestHash(input);

  const [prior] = await db.query<IssuanceRow>('SELECT * FROM issuances WHERE org = $1 AND idempotency_key = $2', [caller.org, input.idempotencyKey]);
  const eligibility = await transferEligibility(db, config, {
    tokenId: token.id, fromInvestorId: null, toInvestorId: investor.id, amount: input.amount, at: new Date(), kind: 'PRIMARY_ISSUANCE',
    priceCents: input.priceCents ?? undefined,
  });
  if (prior) {
    if (prior.request_hash !== hash) throw appError('INPUT.IDEMPOTENCY_KEY_REUSED', `idempotency key "${input.idempotencyKey}" was already used for a different request`);
    if (prior.status === 'PENDING') throw appError('ISSUANCE.ISSUANCE_IN_DOUBT', `issuance ${prior.id} started but its mint outcome is unknown; reconcile before retrying`, { details: { issuanceId: prior.id } });
    return { id: prior.id, status: prior.status, txHash: prior.tx_hash, eligibility };
  }
  if (!eligibility.allowed) return { id: '', status: 'REJECTED', txHash: null, eligibility };

  const { row, created } = await db.tx((q) => insertOnce<IssuanceRow>(
    q,
    {
      sql: `INSERT INTO issuances (id, token_id, investor_id, wallet, amount, price_cents, acquired_at, status, org, idempotency_key, request_hash)
            VALUES ($1,$2,$3,$4,$5,$6,$7,'PENDING',$8,$9,$10) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
      params: [newId('iss'), token.id, investor.id, wallet.address, input.amount.toString(), input.priceCents?.toString() ?? null, acquiredAt, caller.org, input.idempotencyKey, hash],
    },
    { sql: 'SELECT * FROM issuances WHERE org = $1 AND idempotency_key = $2', params: [caller.org, input.idempotencyKey] },
    hash,
    input.idempotencyKey,
  ));
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
    await db.query(`UPDATE issuances SET status = 'FAILED', error = $2 WHERE id = $1`, [row.id, (e as Error).message.slice(0, 500)]);
    throw chainFailure(e, 'minting failed');
  }
  await db.tx(async (q) => {
    await q.query(`UPDATE issuances SET status = 'DONE', tx_hash = $2 WHERE id = $1`, [row.id, txHash]);
    // The indexer may have seen the mint first: then its lot takes the acquisition date given here.
    const [lot] = await q.query<{ id: string }>(
      `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, source, tx_hash, log_index)
       VALUES ($1,$2,$3,$4,$4,$5,$5,$5,'ISSUANCE',$6,$7)
       ON CONFLICT (tx_hash, log_index, investor_id) DO UPDATE SET acquired_at = $5, holding_period_start = $5, issued_at = $5
       RETURNING id`,
      [newId('lot'), token.id, investor.id, input.amount.toString(), acquiredAt, txHash, logIndex * 100],
    );
    await q.query(
      `INSERT INTO purchases (issuance_id, token_id, investor_id, exemption, accredited, amount_cents, at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
      [row.id, token.id, investor.id, token.exemption, investor.accredited === true, (input.priceCents ?? 0n).toString(), acquiredAt],
    );
    await audit(q, caller, 'token.issued', token.id, null, { issuanceId: row.id, investorId: investor.id, wallet: wallet.address, amount: input.amount, txHash, lotId: lot.id });
    // The new lot's holding period goes on chain as a lock on the wallet.
    await enqueueChainJob(q, 'SYNC_LOCKS', investor.id, { tokenId: token.id });
    await appendEvent(q, 'token.issued', token.id, { tokenId: token.id, investorId: investor.id, wallet: wallet.address, amount: input.amount, txHash });
  });
  await hooks.afterMint(); // wakes the indexer and the chain jobs; they also run on their own schedule
  return { id: row.id, status: 'DONE', txHash, eligibility };
}
