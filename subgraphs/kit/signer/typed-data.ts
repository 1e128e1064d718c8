import { TypedDataEncoder, concat, keccak256, type TypedDataDomain, type TypedDataField } from 'ethers';

/**
 * The EIP-712 digest of one set of types, what TypedDataEncoder.hash(domain, types, value) gives, with the
 * encoder built once and each domain's separator kept: ethers parses the types and hashes the domain on every
 * call, and signTypedData does it twice (resolving names, then hashing). Sign the digest with signDigestWith.
 */
export function typedDataHasher(types: Record<string, TypedDataField[]>): (domain: TypedDataDomain, value: Record<string, unknown>) => string {
  const encoder = TypedDataEncoder.from(types);
  const separators = new Map<string, string>();
  return (domain, value) => {
    const k = JSON.stringify([domain.name, domain.version, String(domain.chainId), domain.verifyingContract, domain.salt]);
    let sep = separators.get(k);
    if (!sep) {
      if (separators.size >= 100) separators.clear();
      separators.set(k, (sep = TypedDataEncoder.hashDomain(domain)));
    }
    return keccak256(concat(['0x1901', sep, encoder.hash(value)]));
  };
}
