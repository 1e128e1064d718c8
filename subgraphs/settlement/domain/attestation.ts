/**
 * Settlement attestations: an EIP-712 typed-data record of a settled trade,
 * signed by the settlement agent's key. Anyone can check one with ethers alone
 * (docs/attestations.md): verifyTypedData(domain, ATTESTATION_TYPES, record, signature)
 * returns the signer's address. No I/O.
 */
import { Wallet, type Signer, getAddress, keccak256, toUtf8Bytes, verifyTypedData, type TypedDataField } from 'ethers';
import { signDigestWith } from '../../kit/signer/digest-signer.js';
import { typedDataHasher } from '../../kit/signer/typed-data.js';

export const ATTESTATION_DOMAIN_NAME = 'Tokenstack Settlement Attestation';
export const ATTESTATION_DOMAIN_VERSION = '1';

export const ATTESTATION_TYPES: Record<string, TypedDataField[]> = {
  SettlementAttestation: [
    { name: 'settlementId', type: 'string' },
    { name: 'venue', type: 'string' },
    { name: 'venueReference', type: 'string' },
    { name: 'tokenId', type: 'string' },
    { name: 'securityToken', type: 'address' },
    { name: 'quantity', type: 'uint256' },
    { name: 'cashToken', type: 'address' },
    { name: 'cashAmount', type: 'uint256' },
    { name: 'seller', type: 'Party' },
    { name: 'buyer', type: 'Party' },
    { name: 'claimTopics', type: 'uint256[]' },
    { name: 'rulesHash', type: 'bytes32' },
    { name: 'batchId', type: 'bytes32' },
    { name: 'txHash', type: 'bytes32' },
    { name: 'blockNumber', type: 'uint256' },
    { name: 'settledAt', type: 'uint256' },
  ],
  Party: [
    { name: 'investorId', type: 'string' },
    { name: 'accountId', type: 'string' },
    { name: 'wallet', type: 'address' },
    { name: 'identity', type: 'address' },
    { name: 'verified', type: 'bool' },
  ],
};

export interface AttestationDomain { name: string; version: string; chainId: number; verifyingContract: string }

export interface AttestedParty { investorId: string; accountId: string; wallet: string; identity: string; verified: boolean }

/** The record as JSON: integers as decimal strings, so that it survives any JSON round trip unchanged. */
export interface AttestationRecord {
  settlementId: string;
  venue: string;
  venueReference: string;
  tokenId: string;
  securityToken: string;
  quantity: string;
  cashToken: string;
  cashAmount: string;
  seller: AttestedParty;
  buyer: AttestedParty;
  claimTopics: string[];
  rulesHash: string;
  batchId: string;
  txHash: string;
  blockNumber: string;
  settledAt: string;
}

export interface RuleOutcome { code: string; passed: boolean }

export const attestationDomain = (chainId: number, verifyingContract: string): AttestationDomain =>
  ({ name: ATTESTATION_DOMAIN_NAME, version: ATTESTATION_DOMAIN_VERSION, chainId, verifyingContract: getAddress(verifyingContract) });

/**
 * The rule results hash: keccak256 of the UTF-8 JSON array of [code, passed]
 * pairs in the order issuance returned them, e.g. [["KYC_VALID_SENDER",true],...].
 */
export function rulesHash(results: readonly RuleOutcome[]): string {
  return keccak256(toUtf8Bytes(JSON.stringify(results.map((r) => [r.code, r.passed]))));
}

const hashAttestation = typedDataHasher(ATTESTATION_TYPES);

/** The EIP-712 digest (TypedDataEncoder.hash(domain, ATTESTATION_TYPES, record), from a cached encoder and domain separator). */
export const attestationDigest = (domain: AttestationDomain, record: AttestationRecord): string =>
  hashAttestation(domain, record as unknown as Record<string, unknown>);

/** Signs the record's digest (given, or hashed here); a signer that cannot sign a bare digest signs the typed data. */
export async function signAttestation(key: string | Signer, domain: AttestationDomain, record: AttestationRecord, digest = attestationDigest(domain, record)): Promise<string> {
  const signer = typeof key === 'string' ? new Wallet(key) : key;
  return signDigestWith(signer, digest) ?? signer.signTypedData(domain, ATTESTATION_TYPES, record);
}

/** The typed data in the shape wallets and eth_signTypedData_v4 take. */
export function typedDataOf(domain: AttestationDomain, record: AttestationRecord) {
  return { domain, types: ATTESTATION_TYPES, primaryType: 'SettlementAttestation', message: record };
}

export class AttestationFormatError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Accepts a typed-data document ({domain, message, ...}) or a bare record, as JSON text. */
export function parseAttestationInput(text: string): { domain?: Partial<AttestationDomain>; record: AttestationRecord } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new AttestationFormatError('the record must be JSON');
  }
  if (!isObj(v)) throw new AttestationFormatError('the record must be a JSON object');
  const record = (isObj(v.message) ? v.message : v) as unknown as AttestationRecord;
  const domain = isObj(v.domain) ? (v.domain as Partial<AttestationDomain>) : undefined;
  if (typeof record.settlementId !== 'string') throw new AttestationFormatError('the record has no settlementId');
  return { domain, record };
}

/** Who signed `record` under `domain` (the canonical types are always used, never ones sent along). */
export function recoverAttestationSigner(domain: AttestationDomain, record: AttestationRecord, signature: string): string {
  try {
    return verifyTypedData(domain, ATTESTATION_TYPES, record, signature);
  } catch (e) {
    throw new AttestationFormatError(`the record or signature is malformed: ${(e as Error).message.slice(0, 200)}`);
  }
}

/** Deep equality of two records, as JSON values. */
export function sameRecord(a: AttestationRecord, b: AttestationRecord): boolean {
  const canon = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(canon);
    if (isObj(x)) return Object.fromEntries(Object.keys(x).sort().map((k) => [k, canon(x[k])]));
    return typeof x === 'string' && /^0x[0-9a-fA-F]{40}$/.test(x) ? x.toLowerCase() : x;
  };
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}
