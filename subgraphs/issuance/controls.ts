import { Contract, getAddress } from 'ethers';
import { loadArtifact } from '../kit/chain/artifacts.js';
import { KeyPurpose, keyHash } from './chain/trex.js';
import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { appendEvent } from '../kit/outbox.js';
import type { ComplianceConfig, FamilyRelation, TransferOccasion } from './domain/compliance/index.js';
import { investorById, investorOfCaller, positive, requireReason, tokenOfIssuer } from './access.js';
import { chainFailure, type IssuanceChain } from './chain/runtime.js';
import { requireDeployed } from './deploy.js';
import { transferEligibility, type EligibilityResult } from './eligibility.js';
import { recordOccasion } from './occasions.js';
import { activateWallet, insertWalletIfNew, markWalletLost, upsertControls, walletOwner, walletsOf, type WalletRow } from './store/holdings.js';
import { audit } from './store/records.js';
import { enqueueChainJob } from './store/chain.js';
import { refuseDuringSplit } from './store/splits.js';
import { deployedTokens, setTokenPaused, type TokenRow } from './store/tokens.js';
import type { InvestorRow } from './store/investors.js';

/**
 * Issuer controls. Each one acts on chain first (the token is the law the
 * market sees) and then records the outcome with who, when and why; a chain
 * failure records nothing and is retryable.
 */
async function onChain<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw chainFailure(e, what);
  }
}

async function activeWallets(db: Db, investorId: string): Promise<WalletRow[]> {
  return (await walletsOf(db, [investorId])).filter((w) => w.status === 'ACTIVE');
}

export async function setPaused(db: Db, chain: IssuanceChain, caller: Caller, tokenId: string, paused: boolean, reason: string): Promise<TokenRow> {
  const why = requireReason(reason);
  const t = await tokenOfIssuer(db, caller, tokenId, ['ISSUER_AGENT']);
  const addresses = requireDeployed(t);
  // A split pauses and unpauses the token itself: the issuer's own pause waits for it.
  await refuseDuringSplit(db, [t.id], paused ? 'pausing the token' : 'unpausing the token');
  if (t.paused !== paused) {
    const suite = await chain.suite(addresses);
    await onChain(paused ? 'pausing failed' : 'unpausing failed', async () => {
      if ((await suite.client.read<boolean>(suite.token.paused())) !== paused) await suite.client.send(paused ? suite.token.pause() : suite.token.unpause());
    });
  }
  return db.tx(async (q) => {
    const row = await setTokenPaused(q, tokenId, paused);
    await audit(q, caller, paused ? 'token.paused' : 'token.unpaused', tokenId, why);
    // Trading halts (and resumes) on this event.
    await appendEvent(q, paused ? 'token.paused' : 'token.unpaused', tokenId, { tokenId, reason: why });
    return row;
  });
}

export async function freezeInvestor(db: Db, chain: IssuanceChain, caller: Caller, a: { tokenId: string; investorId: string; frozen: boolean; reason: string }): Promise<InvestorRow> {
  const why = requireReason(a.reason);
  const t = await tokenOfIssuer(db, caller, a.tokenId, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER']);
  // A freeze can still be lifted on a redeemed token: a holder held at the redemption is released (and bought back) only once unfrozen.
  const suite = await chain.suite(a.frozen || t.status !== 'REDEEMED' ? requireDeployed(t) : t.chain!);
  const investor = await investorById(db, a.investorId);
  const wallets = await activeWallets(db, investor.id);
  if (!wallets.length) throw appError('ISSUANCE.NO_WALLET', `investor ${investor.id} has no active wallet`);
  await onChain('freezing failed', async () => {
    for (const w of wallets) await suite.client.send(suite.token.setAddressFrozen(getAddress(w.address), a.frozen));
  });
  return db.tx(async (q) => {
    await upsertControls(q, t.id, investor.id, { wallet_frozen: a.frozen });
    await audit(q, caller, a.frozen ? 'investor.frozen' : 'investor.unfrozen', investor.id, why, { tokenId: t.id, wallets: wallets.map((w) => w.address) });
    await appendEvent(q, 'investor.freeze_changed', investor.id, { tokenId: t.id, investorId: investor.id, frozen: a.frozen });
    return investor;
  });
}

/** Sets the frozen amount of the investor's first wallet to exactly `amount` (freezing or unfreezing the difference on chain). */
export async function freezePartialTokens(db: Db, chain: IssuanceChain, caller: Caller, a: { tokenId: string; investorId: string; amount: bigint; reason: string }): Promise<InvestorRow> {
  const why = requireReason(a.reason);
  if (a.amount < 0n) throw badInput('INVALID_AMOUNT', 'amount cannot be negative (0 unfreezes)');
  const t = await tokenOfIssuer(db, caller, a.tokenId, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER']);
  const suite = await chain.suite(requireDeployed(t));
  await refuseDuringSplit(db, [t.id], 'freezing part of a balance'); // the balance is being scaled
  const investor = await investorById(db, a.investorId);
  const [wallet] = await activeWallets(db, investor.id);
  if (!wallet) throw appError('ISSUANCE.NO_WALLET', `investor ${investor.id} has no active wallet`);
  await onChain('freezing tokens failed', async () => {
    const w = getAddress(wallet.address);
    const [frozen, balance] = await Promise.all([suite.client.read<bigint>(suite.token.getFrozenTokens(w)), suite.client.read<bigint>(suite.token.balanceOf(w))]);
    if (a.amount > balance) throw appError('ISSUANCE.AMOUNT_OVER_BALANCE', `cannot freeze ${a.amount}: the wallet holds ${balance}`);
    if (a.amount > frozen) await suite.client.send(suite.token.freezePartialTokens(w, a.amount - frozen));
    if (a.amount < frozen) await suite.client.send(suite.token.unfreezePartialTokens(w, frozen - a.amount));
  });
  return db.tx(async (q) => {
    await upsertControls(q, t.id, investor.id, { frozen_amount: a.amount.toString() });
    await audit(q, caller, 'investor.tokens_frozen', investor.id, why, { tokenId: t.id, wallet: wallet.address, amount: a.amount });
    await appendEvent(q, 'investor.freeze_changed', investor.id, { tokenId: t.id, investorId: investor.id, frozenAmount: a.amount });
    return investor;
  });
}

export async function setLiquidateOnly(db: Db, caller: Caller, a: { tokenId: string; investorId: string; liquidateOnly: boolean; reason: string }): Promise<InvestorRow> {
  const why = requireReason(a.reason);
  return db.tx(async (q) => {
    const t = await tokenOfIssuer(q, caller, a.tokenId, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER']);
    const investor = await investorById(q, a.investorId);
    await upsertControls(q, t.id, investor.id, { liquidate_only: a.liquidateOnly });
    await audit(q, caller, 'investor.liquidate_only', investor.id, why, { tokenId: t.id, liquidateOnly: a.liquidateOnly });
    if (t.chain) await enqueueChainJob(q, 'SYNC_FLAGS', investor.id, { tokenId: t.id });
    return investor;
  });
}

export interface ForcedTransferOutcome { txHash: string | null; eligibility: EligibilityResult }

/**
 * ERC-3643 forcedTransfer: overrides the issuer's own controls (pause,
 * freezes, policy) but not the law, so the engine's FORCED_TRANSFER rules
 * must pass; a refusal is returned with every reason and nothing moves.
 */
export interface ForcedTransferArgs {
  tokenId: string; fromInvestorId: string; toInvestorId: string; amount: bigint; reason: string;
  /** Why the tokens move; not a sale (a gift, an estate...): the receiver tacks the giver's holding period. Default SALE. */
  occasion?: TransferOccasion | null;
  /** The receiver's family relation to the sender (Reg CF resale exceptions). */
  receiverRelation?: FamilyRelation | null;
}

export async function forcedTransfer(db: Db, chain: IssuanceChain, config: ComplianceConfig, caller: Caller, a: ForcedTransferArgs): Promise<ForcedTransferOutcome> {
  const why = requireReason(a.reason);
  positive(a.amount);
  const t = await tokenOfIssuer(db, caller, a.tokenId, ['ISSUER_AGENT']);
  const suite = await chain.suite(requireDeployed(t));
  // ERC-3643's forcedTransfer works while the token is paused: a split's own pause does not stop it.
  await refuseDuringSplit(db, [t.id], 'a forced transfer');
  const occasion = a.occasion ?? 'SALE';
  const eligibility = await transferEligibility(db, config, {
    tokenId: t.id, fromInvestorId: a.fromInvestorId, toInvestorId: a.toInvestorId, amount: a.amount, at: new Date(), kind: 'FORCED_TRANSFER',
    occasion, receiverRelation: a.receiverRelation ?? null,
  });
  if (!eligibility.allowed) return { txHash: null, eligibility };
  const [fromW] = await activeWallets(db, a.fromInvestorId);
  const [toW] = await activeWallets(db, a.toInvestorId);
  if (!fromW || !toW) throw appError('ISSUANCE.NO_WALLET', 'both investors need an active wallet');
  const receipt = await onChain('forced transfer failed', () => suite.client.send(suite.token.forcedTransfer(getAddress(fromW.address), getAddress(toW.address), a.amount)));
  await db.tx(async (q) => {
    await audit(q, caller, 'token.forced_transfer', t.id, why, { from: a.fromInvestorId, to: a.toInvestorId, amount: a.amount, txHash: receipt.hash, occasion });
    await recordOccasion(q, config, { tokenId: t.id, txHash: receipt.hash, from: a.fromInvestorId, to: a.toInvestorId, occasion, recordedBy: caller.subject });
    await enqueueChainJob(q, 'SYNC_LOCKS', a.fromInvestorId, { tokenId: t.id });
    await appendEvent(q, 'token.forced_transfer', t.id, { tokenId: t.id, fromInvestorId: a.fromInvestorId, toInvestorId: a.toInvestorId, amount: a.amount, txHash: receipt.hash, reason: why });
  });
  return { txHash: receipt.hash, eligibility };
}

/**
 * ERC-3643 recovery: for every deployed token the lost wallet holds, the
 * balance (and its frozen state) moves to the new wallet, which the token
 * registers with the investor's identity. The books follow through the indexer;
 * lots stay with the investor (a wallet change is not a transfer).
 */
export async function recoverInvestorWallet(db: Db, chain: IssuanceChain, caller: Caller, a: { investorId: string; lostWallet: string; newWallet: string; reason: string }): Promise<InvestorRow> {
  const why = requireReason(a.reason);
  if (a.lostWallet.toLowerCase() === a.newWallet.toLowerCase()) throw badInput('SAME_WALLET', 'the new wallet must differ from the lost one');
  // A recovery rewrites the investor's wallets: only the organisation that onboarded the investor may do it.
  const investor = await investorOfCaller(db, caller, a.investorId, ['ISSUER_AGENT']);
  const wallets = await walletsOf(db, [investor.id]);
  const lost = wallets.find((w) => w.address.toLowerCase() === a.lostWallet.toLowerCase());
  if (!lost) throw appError('ISSUANCE.UNKNOWN_WALLET', `${a.lostWallet} is not a wallet of ${investor.id}`);
  if (!investor.identity_address) throw appError('ISSUANCE.NO_IDENTITY', `investor ${investor.id} has no on-chain identity yet`);
  const tokens = await deployedTokens(db, { issuerOrg: caller.org });
  if (caller.kind === 'user' && !caller.roles.includes('ISSUER_AGENT')) throw appError('FORBIDDEN', 'requires the role ISSUER_AGENT');
  // Linked before anything moves: the indexer may see the recovery transfer before the records below commit,
  // and must count it as a move between two wallets of one investor (no holder change, the lots stay).
  await insertWalletIfNew(db, getAddress(a.newWallet), investor.id);
  const taken = await walletOwner(db, a.newWallet);
  if (taken && taken.investor_id !== investor.id) throw appError('ISSUANCE.WALLET_TAKEN', `${a.newWallet} belongs to another investor`);
  return (await recoverWallet(db, chain, caller, { investor, lost, newWallet: a.newWallet, tokens, why })).investor;
}

export interface WalletMove { tokenId: string; txHash: string }

/**
 * The recovery itself, for the issuer's agent and for custody's sweeps: chain first (what the
 * lost wallet still holds of each token moves), then the records. Run again it moves only what is left.
 */
export async function recoverWallet(db: Db, chain: IssuanceChain, caller: Caller, r: { investor: InvestorRow; lost: WalletRow; newWallet: string; tokens: TokenRow[]; why: string }): Promise<{ investor: InvestorRow; moved: WalletMove[] }> {
  const { investor, lost, tokens, why } = r;
  // A recovery moves balances the split is moving (T-REX recovers a paused token's balance too).
  await refuseDuringSplit(db, tokens.map((t) => t.id), 'a wallet recovery');
  const a = { newWallet: r.newWallet };
  const moved: WalletMove[] = [];
  const lostAddr = getAddress(lost.address);
  const newAddr = getAddress(a.newWallet);
  await onChain('wallet recovery failed', async () => {
    const client = await chain.client();
    // T-REX recovers only to a wallet that holds a management key on the investor's identity.
    const identity = new Contract(investor.identity_address!, loadArtifact('Identity', 'onchainid').abi, client.signer);
    if (!(await client.read<boolean>(identity.keyHasPurpose(keyHash(newAddr), KeyPurpose.MANAGEMENT)))) {
      await client.send(identity.addKey(keyHash(newAddr), KeyPurpose.MANAGEMENT, 1));
    }
    const storage = await chain.identityStorage();
    for (const t of tokens) {
      const suite = await chain.suite(t.chain!);
      const balance = await suite.client.read<bigint>(suite.token.balanceOf(lostAddr));
      if (balance === 0n) continue;
      const registered = !/^0x0{40}$/i.test(await client.read<string>(storage.storedIdentity(newAddr)));
      if (!registered) {
        // The first token re-registers the wallet in the shared storage and moves balance and freezes.
        const r = await suite.client.send(suite.token.recoveryAddress(lostAddr, newAddr, investor.identity_address!));
        moved.push({ tokenId: t.id, txHash: r.hash });
        continue;
      }
      // Later tokens: the registry already knows the new wallet, so move balance and freeze state as recovery would.
      const [frozen, walletFrozen] = await Promise.all([suite.client.read<bigint>(suite.token.getFrozenTokens(lostAddr)), suite.client.read<boolean>(suite.token.isFrozen(lostAddr))]);
      const r = await suite.client.send(suite.token.forcedTransfer(lostAddr, newAddr, balance));
      if (frozen > 0n) await suite.client.send(suite.token.freezePartialTokens(newAddr, frozen));
      if (walletFrozen) await suite.client.send(suite.token.setAddressFrozen(newAddr, true));
      moved.push({ tokenId: t.id, txHash: r.hash });
    }
    if (!/^0x0{40}$/i.test(await client.read<string>(storage.storedIdentity(lostAddr)))) {
      await client.send(storage.removeIdentityFromStorage(lostAddr)); // a lost key must not stay verified
    }
  });
  return db.tx(async (q) => {
    await markWalletLost(q, lost.address);
    await activateWallet(q, newAddr, investor.id, moved.length > 0);
    // Locks belong on the new wallet now.
    for (const m of moved) await enqueueChainJob(q, 'SYNC_LOCKS', investor.id, { tokenId: m.tokenId });
    if (!moved.length) await enqueueChainJob(q, 'REGISTER_WALLET', investor.id, { address: getAddress(a.newWallet) });
    await audit(q, caller, 'investor.wallet_recovered', investor.id, why, { lost: lost.address, new: a.newWallet, moved });
    await appendEvent(q, 'investor.wallet_recovered', investor.id, { investorId: investor.id, lostWallet: lost.address, newWallet: getAddress(a.newWallet), moved });
    return { investor, moved };
  });
}
