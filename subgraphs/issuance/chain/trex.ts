// ERC-3643 (T-REX) suite for one token, OnchainID identities and claims, and the DvD manager.
// Direct implementations initialised with init(), no proxies: nothing here needs upgrading in place,
// and it is fewer transactions. None of T-REX's ready compliance modules (non-commercial licence).
import {
  AbiCoder,
  Contract,
  Wallet,
  ZeroAddress,
  getAddress,
  getBytes,
  hexlify,
  isHexString,
  keccak256,
  toUtf8Bytes,
  type BytesLike,
  type Signer,
  type TransactionReceipt,
} from 'ethers';
import { loadArtifact } from '../../kit/chain/artifacts.js';
import type { ChainClient } from '../../kit/chain/client.js';
import type { KitSigner } from '../../kit/signer/index.js';

/** Claim topics our claim issuer signs. ERC-3643 leaves numbering to the deployment; small integers are common. */
export const ClaimTopic = { KYC: 1n, ACCREDITATION: 2n, COUNTRY: 3n } as const;

/** ERC-734 key purposes. A MANAGEMENT key passes every purpose check. */
export const KeyPurpose = { MANAGEMENT: 1n, ACTION: 2n, CLAIM: 3n, ENCRYPTION: 4n } as const;
const KEY_TYPE_ECDSA = 1n;
const CLAIM_SCHEME_ECDSA = 1n;

const abi = AbiCoder.defaultAbiCoder();

type Addressish = string | Contract;
const addr = (a: Addressish): string => getAddress(typeof a === 'string' ? a : (a.target as string));

/** How ERC-734 identifies a key: keccak256(abi.encode(address)). */
export function keyHash(address: string): string {
  return keccak256(abi.encode(['address'], [address]));
}

/** ERC-735 claim id: one claim per (issuer, topic) on an identity. */
export function claimId(claimIssuer: Addressish, topic: bigint | number): string {
  return keccak256(abi.encode(['address', 'uint256'], [addr(claimIssuer), topic]));
}

export interface ClaimIssuerDeployment {
  address: string;
  contract: Contract;
  /** Holds the CLAIM purpose key; claims are signed with it. Persist it or pass your own. */
  signingKey: KitSigner;
}

/** A ClaimIssuer managed by the client's key, with a separate key registered for signing claims. */
export async function deployClaimIssuer(client: ChainClient, opts: { signingKey?: string | KitSigner } = {}): Promise<ClaimIssuerDeployment> {
  const signingKey = typeof opts.signingKey === 'object' ? opts.signingKey : new Wallet(opts.signingKey ?? Wallet.createRandom().privateKey);
  const contract = await client.deploy(loadArtifact('ClaimIssuer', 'onchainid'), [client.address]);
  await client.send(contract.addKey(keyHash(signingKey.address), KeyPurpose.CLAIM, KEY_TYPE_ECDSA));
  return { address: addr(contract), contract, signingKey };
}

export interface SuiteAddresses {
  token: string;
  identityRegistry: string;
  identityRegistryStorage: string;
  claimTopicsRegistry: string;
  trustedIssuersRegistry: string;
  compliance: string;
}

export interface TokenSuite {
  client: ChainClient;
  addresses: SuiteAddresses;
  token: Contract;
  identityRegistry: Contract;
  identityRegistryStorage: Contract;
  claimTopicsRegistry: Contract;
  trustedIssuersRegistry: Contract;
  compliance: Contract;
}

export interface TokenSuiteOptions {
  name: string;
  symbol: string;
  decimals: number;
  /** Trusted for every topic in claimTopics. */
  claimIssuer: Addressish;
  /** Topics every holder's identity must carry a valid claim for. */
  claimTopics: readonly (bigint | number)[];
  /** The token's own OnchainID; zero address if absent. */
  onchainId?: string;
  /** Agents besides the client (which is always owner and agent). */
  agents?: readonly string[];
  /** Leave the token paused (T-REX deploys paused). Default false: unpaused. */
  paused?: boolean;
  /**
   * An IdentityRegistryStorage shared by the issuer's tokens (owned by the client): an investor's
   * wallet, identity and country are then registered once for all of them. Absent: a new one.
   */
  identityRegistryStorage?: string;
}

/** Contracts at known addresses, e.g. read back from the database after a restart. */
export function attachTokenSuite(client: ChainClient, addresses: SuiteAddresses): TokenSuite {
  const at = (name: string, a: string) => new Contract(a, loadArtifact(name, 'trex').abi, client.signer);
  return {
    client,
    addresses,
    token: at('Token', addresses.token),
    identityRegistry: at('IdentityRegistry', addresses.identityRegistry),
    identityRegistryStorage: at('IdentityRegistryStorage', addresses.identityRegistryStorage),
    claimTopicsRegistry: at('ClaimTopicsRegistry', addresses.claimTopicsRegistry),
    trustedIssuersRegistry: at('TrustedIssuersRegistry', addresses.trustedIssuersRegistry),
    compliance: at('ModularCompliance', addresses.compliance),
  };
}

export async function deployTokenSuite(client: ChainClient, o: TokenSuiteOptions): Promise<TokenSuite> {
  if (!Number.isInteger(o.decimals) || o.decimals < 0 || o.decimals > 18) throw new RangeError('decimals must be an integer 0..18');
  const deploy = (name: string) => client.deploy(loadArtifact(name, 'trex'));
  const send = client.send;

  // Phases: within one, transactions are independent and go out together (the nonce queue orders
  // them); each phase waits for its receipts so the next one estimates gas against mined state.
  const shared = o.identityRegistryStorage
    ? new Contract(getAddress(o.identityRegistryStorage), loadArtifact('IdentityRegistryStorage', 'trex').abi, client.signer)
    : undefined;
  const [ctr, tir, ir, compliance, token, irs] = await Promise.all([
    ...['ClaimTopicsRegistry', 'TrustedIssuersRegistry', 'IdentityRegistry', 'ModularCompliance', 'Token'].map(deploy),
    shared ?? deploy('IdentityRegistryStorage'),
  ]);
  const suite = attachTokenSuite(client, {
    token: addr(token),
    identityRegistry: addr(ir),
    identityRegistryStorage: addr(irs),
    claimTopicsRegistry: addr(ctr),
    trustedIssuersRegistry: addr(tir),
    compliance: addr(compliance),
  });
  const a = suite.addresses;

  await Promise.all([send(ctr.init()), send(tir.init()), ...(shared ? [] : [send(irs.init())]), send(compliance.init())]);
  await Promise.all([
    send(ir.init(a.trustedIssuersRegistry, a.claimTopicsRegistry, a.identityRegistryStorage)),
    // Binds the compliance to the token as a side effect.
    send(token.init(a.identityRegistry, a.compliance, o.name, o.symbol, o.decimals, o.onchainId ?? ZeroAddress)),
  ]);
  const agents = [client.address, ...(o.agents ?? [])];
  await Promise.all([
    send(irs.bindIdentityRegistry(a.identityRegistry)),
    ...o.claimTopics.map((t) => send(ctr.addClaimTopic(t))),
    send(tir.addTrustedIssuer(addr(o.claimIssuer), [...o.claimTopics])),
    ...agents.map((ag) => send(ir.addAgent(ag))),
    // The token registers the new wallet in recoveryAddress.
    send(ir.addAgent(a.token)),
    ...agents.map((ag) => send(token.addAgent(ag))),
  ]);
  if (!o.paused) await send(token.unpause());
  return suite;
}

/**
 * An IdentityRegistryStorage shared by every token of an issuer, with the client as its agent so that
 * identities can be stored before any token exists. Pass its address to deployTokenSuite.
 */
export async function deployIdentityRegistryStorage(client: ChainClient): Promise<Contract> {
  const irs = await client.deploy(loadArtifact('IdentityRegistryStorage', 'trex'));
  await client.send(irs.init());
  await client.send(irs.addAgent(client.address));
  return irs;
}

/** The storage's view of one wallet: its identity (zero address when none) and ISO numeric country. */
export function identityStorage(client: ChainClient, address: string): Contract {
  return new Contract(getAddress(address), loadArtifact('IdentityRegistryStorage', 'trex').abi, client.signer);
}

/** Deployed once; investor identities are then cheap proxies onto it. */
export async function deployIdentityAuthority(client: ChainClient): Promise<string> {
  const impl = await client.deploy(loadArtifact('Identity', 'onchainid'), [client.address, true]);
  const authority = await client.deploy(loadArtifact('ImplementationAuthority', 'onchainid'), [addr(impl)]);
  return addr(authority);
}

export interface IdentityDeployment {
  address: string;
  contract: Contract;
}

/**
 * An OnchainID for an investor wallet. The client's key is its management key, so the service adds
 * and removes claims; the wallet is added as an ACTION key to link it on-chain.
 * With `implementationAuthority` (see deployIdentityAuthority) it is an IdentityProxy (~10x less gas).
 */
export async function createIdentity(
  client: ChainClient,
  walletAddress: string,
  opts: { implementationAuthority?: string; managementKey?: string } = {},
): Promise<IdentityDeployment> {
  const manager = getAddress(opts.managementKey ?? client.address);
  const deployed = opts.implementationAuthority
    ? await client.deploy(loadArtifact('IdentityProxy', 'onchainid'), [opts.implementationAuthority, manager])
    : await client.deploy(loadArtifact('Identity', 'onchainid'), [manager, false]);
  const contract = new Contract(deployed.target, loadArtifact('Identity', 'onchainid').abi, client.signer);
  if (manager === getAddress(client.address)) {
    await client.send(contract.addKey(keyHash(getAddress(walletAddress)), KeyPurpose.ACTION, KEY_TYPE_ECDSA));
  }
  return { address: addr(contract), contract };
}

function claimBytes(data: BytesLike | string): string {
  return typeof data === 'string' && !isHexString(data) ? hexlify(toUtf8Bytes(data)) : hexlify(data);
}

/** The signature ClaimIssuer.isClaimValid accepts: eth-message over keccak256(abi.encode(identity, topic, data)). */
export async function signClaim(signingKey: string | Signer, identity: Addressish, topic: bigint | number, data: BytesLike | string): Promise<string> {
  const signer = typeof signingKey === 'string' ? new Wallet(signingKey) : signingKey;
  const digest = keccak256(abi.encode(['address', 'uint256', 'bytes'], [addr(identity), topic, claimBytes(data)]));
  return signer.signMessage(getBytes(digest));
}

export interface AddClaimInput {
  identity: Addressish;
  claimIssuer: Addressish;
  claimIssuerSigningKey: string | Signer;
  topic: bigint | number;
  /**
   * Hex, or text (stored as UTF-8). Revocation is by signature and signing is deterministic, so a
   * claim re-issued after a revocation needs different data (put the issue date or a version in it).
   */
  data: BytesLike | string;
  uri?: string;
}

/** Signs a claim as the issuer and stores it on the identity (the client must hold a CLAIM or MANAGEMENT key there). */
export async function addClaim(client: ChainClient, c: AddClaimInput): Promise<{ claimId: string; signature: string; receipt: TransactionReceipt }> {
  const data = claimBytes(c.data);
  const signature = await signClaim(c.claimIssuerSigningKey, c.identity, c.topic, data);
  const identity = new Contract(addr(c.identity), loadArtifact('Identity', 'onchainid').abi, client.signer);
  const receipt = await client.send(identity.addClaim(c.topic, CLAIM_SCHEME_ECDSA, addr(c.claimIssuer), signature, data, c.uri ?? ''));
  return { claimId: claimId(c.claimIssuer, c.topic), signature, receipt };
}

/** Revokes at the issuer (the client must manage the ClaimIssuer): the identity stops being verified for that topic. */
export async function revokeClaim(
  client: ChainClient,
  c: { identity: Addressish; claimIssuer: Addressish; topic: bigint | number },
): Promise<TransactionReceipt> {
  const issuer = new Contract(addr(c.claimIssuer), loadArtifact('ClaimIssuer', 'onchainid').abi, client.signer);
  return client.send(issuer.revokeClaim(claimId(c.claimIssuer, c.topic), addr(c.identity)));
}

/** Links a wallet to its identity in the suite's registry. countryCode: ISO 3166-1 numeric (uint16). */
export async function registerIdentity(suite: TokenSuite, wallet: string, identity: Addressish, countryCode: number): Promise<TransactionReceipt> {
  if (!Number.isInteger(countryCode) || countryCode < 0 || countryCode > 65535) throw new RangeError('countryCode must be ISO 3166-1 numeric (0..65535)');
  return suite.client.send(suite.identityRegistry.registerIdentity(getAddress(wallet), addr(identity), countryCode));
}

/** T-REX's DVDTransferManager (GPL-3.0): atomic swap of two ERC-20s, e.g. a security token against cash. */
export async function deployDvd(client: ChainClient): Promise<{ address: string; contract: Contract }> {
  const contract = await client.deploy(loadArtifact('DVDTransferManager', 'trex'));
  return { address: addr(contract), contract };
}
