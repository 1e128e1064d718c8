import { getAddress } from 'ethers';
import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { appError, forbidden, notFound } from '../kit/errors.js';
import type { ParsedRequest, ReplyInput } from '../kit/contracts/calls.js';
import type { IssuanceChain } from './chain/runtime.js';
import { recoverWallet } from './controls.js';
import { attachWallet } from './investors.js';
import { insertWallet, markWalletLost, walletOwner, walletsOf } from './store/holdings.js';
import { recoveryRecorded } from './store/records.js';
import { deployedTokens } from './store/tokens.js';
import { investorRow } from './store/investors.js';

/**
 * Custody's wallet sweep (a sealed wallet moved to an HSM wallet), issuance's half: the security
 * tokens of every deployed token move from the old custody wallet to the new one by ERC-3643
 * recovery, as the issuer's agent would do it in recoverInvestorWallet. Only the custody service
 * may ask, only for a wallet of that investor, and a replay answers without moving anything.
 */
export async function recoverSweptWallet(db: Db, chain: IssuanceChain, caller: Caller, r: ParsedRequest<'issuance', 'recoverSweptWallet'>): Promise<ReplyInput<'issuance', 'recoverSweptWallet'>> {
  if (caller.kind !== 'service' || caller.subject !== 'custody') throw forbidden('only the custody service sweeps custody wallets');
  const investor = await investorRow(db, r.investorId);
  if (!investor) throw notFound('investor', r.investorId);
  const lostWallet = getAddress(r.lostWallet);
  const newWallet = getAddress(r.newWallet);
  if (lostWallet === newWallet) throw appError('INPUT.SAME_WALLET', 'the new wallet must differ from the old one');
  const wallets = await walletsOf(db, [investor.id]);
  const lost = wallets.find((w) => w.address.toLowerCase() === lostWallet.toLowerCase());
  if (!lost) throw appError('ISSUANCE.UNKNOWN_WALLET', `${lostWallet} is not a wallet of ${investor.id}`);
  const answer = (moved: { tokenId: string; txHash: string }[]) => ({ investorId: investor.id, lostWallet, newWallet, moved });
  const reason = `custody wallet sweep ${r.sweepId} to a key in the HSM`;
  const prior = wallets.find((w) => w.address.toLowerCase() === newWallet.toLowerCase());
  if (lost.status === 'LOST' && prior?.status === 'ACTIVE') {
    // Recorded already (the chain work came first): the same answer again, from the audit trail.
    return answer((await recoveryRecorded(db, investor.id, newWallet))?.moved ?? []);
  }
  // Linked before anything moves, so that the indexer, which may see the recovery before the records
  // below commit, counts a move between two wallets of one investor: no holder change, the lots stay.
  const taken = await db.tx(async (q) => {
    const owner = await walletOwner(q, newWallet);
    if (owner) return owner.investor_id !== investor.id;
    if (!investor.identity_address) await attachWallet(q, caller, investor.id, newWallet, reason); // registered on chain by its job once there is an identity
    else await insertWallet(q, newWallet, investor.id);
    return false;
  });
  if (taken) throw appError('ISSUANCE.WALLET_TAKEN', `${newWallet} belongs to another investor`);
  if (!investor.identity_address) {
    // Never registered on chain: the wallet holds no security token; only the records change.
    await markWalletLost(db, lost.address);
    return answer([]);
  }
  // The investor's wallet may hold tokens of any issuer: every deployed token is looked at.
  const tokens = await deployedTokens(db);
  return answer((await recoverWallet(db, chain, caller, { investor, lost, newWallet, tokens, why: reason })).moved);
}
