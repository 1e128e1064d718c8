import { ZeroAddress, getAddress } from 'ethers';
import {
  attestationDigest, attestationDomain, rulesHash, signAttestation, type AttestationDomain, type AttestationRecord, type AttestedParty,
} from './domain/attestation.js';
import type { SettlementServices } from './services.js';
import type { SettlementRow } from './store/settlements.js';
import type { BatchRow } from './store/batches.js';

/** What Settlement.attestation stores: the domain, the record, its digest and who signed it. */
export interface StoredAttestation { domain: AttestationDomain; record: AttestationRecord; digest: string; signer: string }

/**
 * The attestation of a settled trade: the trade, both parties' identities as
 * the token's identity registry held them in the settling block (their
 * ONCHAINID and whether every required claim topic was valid), the rule
 * results' hash, and the transaction that settled it; signed by the
 * settlement agent's key. Null when no attestation key is configured.
 */
export async function attest(s: SettlementServices, row: SettlementRow, b: BatchRow): Promise<{ attestation: StoredAttestation; signature: string } | null> {
  const key = s.chain.settings.attestation;
  if (!key) return null;
  const block = Number(b.block_number);
  const chain = row.token_chain ?? { token: row.token_address! };
  const party = async (investorId: string | null, accountId: string, wallet: string): Promise<AttestedParty> => {
    const id = chain.identityRegistry ? await s.chain.identityOf(chain.identityRegistry, wallet, block) : { identity: ZeroAddress, verified: false };
    return { investorId: investorId ?? '', accountId, wallet: getAddress(wallet), identity: id.identity, verified: id.verified };
  };
  const [seller, buyer, topics] = await Promise.all([
    party(row.seller_investor_id, row.seller_account_id, row.seller_wallet!),
    party(row.buyer_investor_id, row.buyer_account_id, row.buyer_wallet!),
    chain.claimTopicsRegistry ? s.chain.claimTopics(chain.claimTopicsRegistry, block) : Promise.resolve([] as bigint[]),
  ]);
  const record: AttestationRecord = {
    settlementId: row.id, venue: row.venue, venueReference: row.venue_reference, tokenId: row.token_id,
    securityToken: getAddress(row.token_address!), quantity: row.quantity, cashToken: getAddress(row.cash_token_address!), cashAmount: row.cash_amount!,
    seller, buyer, claimTopics: topics.map(String), rulesHash: rulesHash(row.eligibility?.results ?? []),
    batchId: b.chain_batch_id, txHash: b.tx_hash!, blockNumber: String(block), settledAt: String(Math.floor(b.block_time!.getTime() / 1000)),
  };
  const domain = attestationDomain(Number(b.chain_id), b.dvp_address);
  const digest = attestationDigest(domain, record);
  const signature = await signAttestation(key, domain, record, digest);
  return { attestation: { domain, record, digest, signer: key.address }, signature };
}
