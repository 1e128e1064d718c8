import type { Caller } from '../kit/auth.js';
import { badInput } from '../kit/errors.js';
import { sees, visibilityOf } from './access.js';
import type { StoredAttestation } from './attest.js';
import {
  AttestationFormatError, attestationDigest, parseAttestationInput, recoverAttestationSigner, sameRecord, typedDataOf, type AttestationDomain,
} from './domain/attestation.js';
import type { SettlementServices } from './services.js';
import { settlementsByIds, type SettlementRow } from './store/settlements.js';

/** Settlement.attestation as the API shows it. */
export function attestationView(row: SettlementRow) {
  const a = row.attestation as unknown as StoredAttestation | null;
  if (!a || !row.attestation_signature) return null;
  return {
    typedData: JSON.stringify(typedDataOf(a.domain, a.record)),
    record: JSON.stringify(a.record),
    signature: row.attestation_signature,
    signer: a.signer,
    digest: a.digest,
    rulesHash: a.record.rulesHash,
    txHash: a.record.txHash,
    blockNumber: BigInt(a.record.blockNumber),
    chainId: a.domain.chainId,
    verifyingContract: a.domain.verifyingContract,
  };
}

/**
 * Who signed an attestation record, whether that is the settlement agent, and
 * whether the record is the one this service stored for its settlement. The
 * canonical types are always used; a domain sent along is used as given
 * (a record signed under another domain recovers another signer).
 */
export async function verifyAttestation(s: SettlementServices, caller: Caller, text: string, signature: string) {
  if (text.length > 100_000) throw badInput('INVALID_ATTESTATION', 'the record is too large');
  let parsed;
  try {
    parsed = parseAttestationInput(text);
  } catch (e) {
    throw badInput('INVALID_ATTESTATION', (e as Error).message);
  }
  const [row] = await settlementsByIds(s.db, [parsed.record.settlementId]);
  const stored = row && sees(visibilityOf(caller, s.config), row) ? (row.attestation as unknown as StoredAttestation | null) : null;
  const domain = { ...(stored?.domain ?? {}), ...(parsed.domain ?? {}) } as AttestationDomain;
  if (!domain.name || !domain.version || !domain.chainId || !domain.verifyingContract) {
    throw badInput('INVALID_ATTESTATION', 'give the typed data with its domain (Settlement.attestation.typedData)');
  }
  let signer: string;
  let digest: string;
  try {
    signer = recoverAttestationSigner(domain, parsed.record, signature);
    digest = attestationDigest(domain, parsed.record);
  } catch (e) {
    if (e instanceof AttestationFormatError) throw badInput('INVALID_ATTESTATION', e.message);
    throw e;
  }
  const expected = stored?.signer ?? s.chain.attestationSigner;
  const signedByAgent = !!expected && signer.toLowerCase() === expected.toLowerCase();
  const matchesSettlement = stored ? sameRecord(stored.record, parsed.record) && stored.digest === digest : null;
  const reason = !expected ? 'no attestation signer is configured'
    : !signedByAgent ? `signed by ${signer}, not by the settlement agent ${expected}`
      : matchesSettlement === false ? 'the record differs from the one recorded for the settlement'
        : null;
  return { valid: signedByAgent && matchesSettlement !== false, signer, expectedSigner: expected, signedByAgent, matchesSettlement, settlementId: parsed.record.settlementId, digest, reason };
}
