import {
  AbstractSigner, BaseWallet, Transaction, TypedDataEncoder, assertArgument, copyRequest, getAddress, hashMessage, resolveAddress,
  type Provider, type Signature, type TransactionLike, type TransactionRequest, type TypedDataDomain, type TypedDataField,
} from 'ethers';

/**
 * An ethers signer whose key is elsewhere (an HSM): everything is hashed here, the key only signs
 * a 32-byte digest. Same shape as a Wallet for every caller (contracts, sendTransaction,
 * signTypedData); what ethers' BaseWallet does, less the private key.
 */
export class DigestSigner extends AbstractSigner {
  constructor(readonly address: string, private readonly signDigest: (digest: string) => Signature, provider: Provider | null = null) {
    super(provider);
  }

  async getAddress(): Promise<string> {
    return this.address;
  }

  /** Signs a 32-byte digest the caller has hashed (e.g. EIP-712 with a cached domain separator). */
  signHash(digest: string): Signature {
    return this.signDigest(digest);
  }

  connect(provider: Provider | null): DigestSigner {
    return new DigestSigner(this.address, this.signDigest, provider);
  }

  async signTransaction(request: TransactionRequest): Promise<string> {
    const tx = copyRequest(request);
    if (tx.to) tx.to = await resolveAddress(tx.to, this);
    if (tx.from != null) {
      assertArgument(getAddress(await resolveAddress(tx.from, this)) === this.address, 'transaction from address mismatch', 'tx.from', tx.from);
      delete tx.from;
    }
    const btx = Transaction.from(tx as TransactionLike<string>);
    btx.signature = this.signDigest(btx.unsignedHash);
    return btx.serialized;
  }

  async signMessage(message: string | Uint8Array): Promise<string> {
    return this.signDigest(hashMessage(message)).serialized;
  }

  async signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    const populated = await TypedDataEncoder.resolveNames(domain, types, value, async (name) => {
      const address = await this.provider?.resolveName(name);
      if (!address) throw new Error(`cannot resolve the name ${name} in typed data`);
      return address;
    });
    return this.signDigest(TypedDataEncoder.hash(populated.domain, types, populated.value)).serialized;
  }
}

/**
 * The signature of a digest already hashed (0x-hex, 65 bytes), by a software key or a key in the HSM; null for
 * any other signer, which then signs the typed data itself. Saves hashing the same EIP-712 data twice.
 */
export function signDigestWith(signer: AbstractSigner, digest: string): string | null {
  if (signer instanceof BaseWallet) return signer.signingKey.sign(digest).serialized;
  if (signer instanceof DigestSigner) return signer.signHash(digest).serialized;
  return null;
}
