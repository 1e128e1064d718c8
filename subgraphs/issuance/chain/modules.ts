// The project's own ERC-3643 compliance module (contracts/TokenstackRulesModule.sol): deploy, bind to a token's
// ModularCompliance, the issuer's settings (sent by the compliance owner, the service's key) and reads.
import { Contract, ZeroAddress, getAddress, type TransactionReceipt } from 'ethers';
import { loadArtifact } from '../../kit/chain/artifacts.js';
import type { ChainClient } from '../../kit/chain/client.js';

/** One deployment serves every token: settings and counters are kept per compliance. */
export interface RulesModule {
  address: string;
  contract: Contract;
}

/** The compliance whose settings change and its owner's client. A TokenSuite fits. */
export interface ComplianceRef {
  client: ChainClient;
  addresses: { compliance: string };
}

/** Bits of `failedRules` (the RULE_ constants in TokenstackRulesModule.sol). */
export const RuleBit = {
  /** Receiver's registry country not on the allow list, or on the block list. */
  COUNTRY_RECEIVER: 1n << 0n,
  /** Sender's registry country on the block list (transfers only). */
  COUNTRY_SENDER: 1n << 1n,
  /** Reg S: receiver is a US person (country 840 or flagged) during the distribution compliance period. */
  US_PERSON: 1n << 2n,
  LIQUIDATE_ONLY: 1n << 3n,
  MAX_BALANCE: 1n << 4n,
  MAX_SUPPLY_SHARE: 1n << 5n,
  MIN_HOLDING: 1n << 6n,
  HOLDER_CAP: 1n << 7n,
  NON_ACCREDITED_CAP: 1n << 8n,
  US_HOLDER_CAP: 1n << 9n,
  /** Reg D 506(b): a mint to a new non-accredited purchaser over the cap. */
  NON_ACCREDITED_PURCHASERS: 1n << 10n,
  LOCKED: 1n << 11n,
  /** The compliance has no token bound. */
  NO_TOKEN: 1n << 12n,
} as const;
export type RuleCode = keyof typeof RuleBit;

/** A time on chain: a Date or unix seconds. */
export type ChainTime = Date | bigint;
/** type(uint64).max: a lock that holds until it is changed. */
export const FOREVER = (1n << 64n) - 1n;
export const MAX_LOCKS = 16;
const U32_MAX = 0xffff_ffff;
const U128_MAX = (1n << 128n) - 1n;

export interface Lock {
  /** Base units the wallet must keep. */
  amount: bigint;
  /** The lock holds while the block time is before this. */
  until: ChainTime;
  /** Reg CF: the locked part may still go to an investor flagged accredited or issuer. Default false. */
  accreditedMayReceive?: boolean;
}

/** A lock as stored on chain. */
export interface LockRecord {
  amount: bigint;
  /** Unix seconds. */
  until: bigint;
  accreditedMayReceive: boolean;
}

/** Replaced as a whole by setInvestorFlags. */
export interface InvestorFlags {
  accredited: boolean;
  /** US person (230.902(k)) for Reg S and the US holder count, even if the registry country is not 840. */
  usPerson: boolean;
  /** May sell, may not acquire (no transfer in, no mint). */
  liquidateOnly: boolean;
  /** The issuer itself: may receive tokens held under a Reg CF lock. */
  issuer: boolean;
}

export interface RulesSettings {
  /** Empty: no allow list. */
  allowedCountries: number[];
  blockedCountries: number[];
  /** Unix seconds; 0n: no Reg S block. */
  usPersonBlockedUntil: bigint;
  /** Base units; 0n: none. */
  maxBalance: bigint;
  /** Basis points; 0: none. */
  maxSupplyShareBps: number;
  /** Base units; 0n: none. */
  minHolding: bigint;
  /** 0: no cap (all four). */
  maxHolders: number;
  maxNonAccreditedHolders: number;
  maxUsHolders: number;
  maxNonAccreditedPurchasers: number;
}

export interface HolderCounts {
  holders: number;
  nonAccreditedHolders: number;
  usHolders: number;
  /** Distinct investors minted to while not accredited. */
  nonAccreditedPurchasers: number;
  /** Sum of the balances the module accounts for; equals totalSupply once every holder is synced. */
  trackedSupply: bigint;
}

export interface InvestorRecord extends InvestorFlags {
  /** Sum of the investor's wallets' balances as the module counts it. */
  balance: bigint;
  /** Wallets with a balance. */
  wallets: number;
  /** Counted among the non-accredited purchasers. */
  purchased: boolean;
}

/**
 * Rounded up: the module blocks while block.timestamp (whole seconds) < until,
 * and the engine while the instant < the end; with the end rounded up the two
 * agree for every block time (a lock never ends on chain before it ends in the books).
 */
export function toUnixSeconds(t: ChainTime): bigint {
  if (typeof t === 'bigint') return t;
  const ms = t.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid date');
  return BigInt(Math.ceil(ms / 1000));
}

function u64(t: ChainTime, what: string): bigint {
  const s = toUnixSeconds(t);
  if (s < 0n || s > FOREVER) throw new RangeError(`${what} out of range (unix seconds, 0..2^64-1)`);
  return s;
}

function u128(x: bigint, what: string): bigint {
  if (typeof x !== 'bigint' || x < 0n || x > U128_MAX) throw new RangeError(`${what} must be a bigint in base units, 0..2^128-1`);
  return x;
}

function u32(x: number, what: string): number {
  if (!Number.isInteger(x) || x < 0 || x > U32_MAX) throw new RangeError(`${what} must be an integer 0..${U32_MAX}`);
  return x;
}

function countries(list: readonly number[]): number[] {
  for (const c of list) {
    if (!Number.isInteger(c) || c < 0 || c > 999) throw new RangeError(`country ${c} is not an ISO 3166-1 numeric code`);
  }
  return [...new Set(list)].sort((a, b) => a - b);
}

function moduleFor(ref: ComplianceRef, module: RulesModule): Contract {
  return module.contract.connect(ref.client.signer) as Contract;
}

const complianceOf = (ref: ComplianceRef): string => getAddress(ref.addresses.compliance);

export async function deployRulesModule(client: ChainClient): Promise<RulesModule> {
  const contract = await client.deploy(loadArtifact('TokenstackRulesModule', 'project'));
  return { address: getAddress(contract.target as string), contract };
}

/** A module deployed earlier (address read back from the database). */
export function attachRulesModule(client: ChainClient, address: string): RulesModule {
  const a = getAddress(address);
  return { address: a, contract: new Contract(a, loadArtifact('TokenstackRulesModule', 'project').abi, client.signer) };
}

/**
 * compliance.addModule(module), as the compliance owner. Refused ("compliance is not suitable for binding to the
 * module") while the token has supply the module has not accounted for: syncHolders with every holder first.
 */
export async function bindRulesModule(suite: ComplianceRef & { compliance: Contract }, module: RulesModule): Promise<TransactionReceipt> {
  return suite.client.send((suite.compliance.connect(suite.client.signer) as Contract).addModule(module.address));
}

/** compliance.removeModule(module). The module keeps its records: bind a fresh deployment rather than this one again. */
export async function unbindRulesModule(suite: ComplianceRef & { compliance: Contract }, module: RulesModule): Promise<TransactionReceipt> {
  return suite.client.send((suite.compliance.connect(suite.client.signer) as Contract).removeModule(module.address));
}

/**
 * Replaces both country lists (ISO 3166-1 numeric). A non-empty `allowed` admits only receivers registered in those
 * countries; `blocked` (the issuer's list plus sanctioned countries) refuses a receiver, and a sender except on a mint.
 */
export async function setCountryPolicy(
  ref: ComplianceRef,
  module: RulesModule,
  policy: { allowed?: readonly number[]; blocked?: readonly number[] },
): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setCountryPolicy(complianceOf(ref), countries(policy.allowed ?? []), countries(policy.blocked ?? [])));
}

/** Reg S distribution compliance period: no US person (registry country 840 or flagged) receives before `until`; null lifts it. */
export async function setUsPersonBlockedUntil(ref: ComplianceRef, module: RulesModule, until: ChainTime | null): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setUsPersonBlockedUntil(complianceOf(ref), until === null ? 0n : u64(until, 'until')));
}

/** Maximum balance of one investor (all its wallets), base units; 0n: none. */
export async function setMaxBalance(ref: ComplianceRef, module: RulesModule, amount: bigint): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setMaxBalance(complianceOf(ref), u128(amount, 'maxBalance')));
}

/** Maximum share of the supply after the transfer one investor may hold, basis points (0..10000); 0: none. */
export async function setMaxSupplyShare(ref: ComplianceRef, module: RulesModule, bps: number): Promise<TransactionReceipt> {
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) throw new RangeError('bps must be an integer 0..10000');
  return ref.client.send(moduleFor(ref, module).setMaxSupplyShare(complianceOf(ref), bps));
}

/** After a transfer each investor holds 0 or at least this, base units; 0n: none. */
export async function setMinHolding(ref: ComplianceRef, module: RulesModule, amount: bigint): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setMinHolding(complianceOf(ref), u128(amount, 'minHolding')));
}

/**
 * Caps on investors holding the token; 0 or absent: no cap. The caller folds the regulatory and policy figures into
 * one number each, e.g. maxHolders = min(12(g) threshold - 1, 3(c)(1) limit, issuer's max).
 */
export async function setHolderCaps(
  ref: ComplianceRef,
  module: RulesModule,
  caps: { maxHolders?: number; maxNonAccreditedHolders?: number; maxUsHolders?: number },
): Promise<TransactionReceipt> {
  return ref.client.send(
    moduleFor(ref, module).setHolderCaps(
      complianceOf(ref),
      u32(caps.maxHolders ?? 0, 'maxHolders'),
      u32(caps.maxNonAccreditedHolders ?? 0, 'maxNonAccreditedHolders'),
      u32(caps.maxUsHolders ?? 0, 'maxUsHolders'),
    ),
  );
}

/** Reg D 506(b): at most this many distinct non-accredited investors may receive a mint; 0: no cap. */
export async function setMaxNonAccreditedPurchasers(ref: ComplianceRef, module: RulesModule, max: number): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setMaxNonAccreditedPurchasers(complianceOf(ref), u32(max, 'maxNonAccreditedPurchasers')));
}

/** Flags of an investor, keyed by its ONCHAINID (all its wallets); replaces all four. Unflagged investors count as non-accredited. */
export async function setInvestorFlags(ref: ComplianceRef, module: RulesModule, identity: string, flags: InvestorFlags): Promise<TransactionReceipt> {
  return ref.client.send(
    moduleFor(ref, module).setInvestorFlags(complianceOf(ref), getAddress(identity), flags.accredited, flags.usPerson, flags.liquidateOnly, flags.issuer),
  );
}

function lockTuple(l: Lock): [bigint, bigint, boolean] {
  return [u128(l.amount, 'lock amount'), u64(l.until, 'lock until'), l.accreditedMayReceive ?? false];
}

/** Replaces a wallet's locks (Rule 144 / Reg CF lots); [] unlocks it. At most MAX_LOCKS. */
export async function setLocks(ref: ComplianceRef, module: RulesModule, wallet: string, locks: readonly Lock[]): Promise<TransactionReceipt> {
  if (locks.length > MAX_LOCKS) throw new RangeError(`at most ${MAX_LOCKS} locks per wallet (merge lots, keeping the later date)`);
  return ref.client.send(moduleFor(ref, module).setLocks(complianceOf(ref), getAddress(wallet), locks.map(lockTuple)));
}

/** Adds one lock (a newly issued lot); the wallet's expired locks are dropped on chain first. */
export async function addLock(ref: ComplianceRef, module: RulesModule, wallet: string, lock: Lock): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).addLock(complianceOf(ref), getAddress(wallet), lockTuple(lock)));
}

/** Replaces a wallet's locks with one that holds `amount` until changed; 0n unlocks the wallet. */
export async function setLockedBalance(ref: ComplianceRef, module: RulesModule, wallet: string, amount: bigint): Promise<TransactionReceipt> {
  return setLocks(ref, module, wallet, amount === 0n ? [] : [{ amount, until: FOREVER }]);
}

/** Reconciles the module's holder records with the token's balances and registry (anyone may send it). */
export async function syncHolders(ref: ComplianceRef, module: RulesModule, wallets: readonly string[]): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).syncHolders(complianceOf(ref), wallets.map((w) => getAddress(w))));
}

// ---------------------------------------------------------------- reads

export async function readRulesSettings(ref: ComplianceRef, module: RulesModule): Promise<RulesSettings> {
  const c = moduleFor(ref, module);
  const [limits, lists] = await ref.client.read(Promise.all([c.getLimits(complianceOf(ref)), c.getCountries(complianceOf(ref))]));
  const l = limits.limits;
  return {
    allowedCountries: (lists.allowed as bigint[]).map(Number),
    blockedCountries: (lists.blocked as bigint[]).map(Number),
    usPersonBlockedUntil: l.usPersonBlockedUntil,
    maxBalance: limits.maxBalance,
    maxSupplyShareBps: Number(l.maxSupplyShareBps),
    minHolding: limits.minHolding,
    maxHolders: Number(l.maxHolders),
    maxNonAccreditedHolders: Number(l.maxNonAccreditedHolders),
    maxUsHolders: Number(l.maxUsHolders),
    maxNonAccreditedPurchasers: Number(l.maxNonAccreditedPurchasers),
  };
}

export async function readHolderCounts(ref: ComplianceRef, module: RulesModule): Promise<HolderCounts> {
  const r = await ref.client.read(moduleFor(ref, module).getCounters(complianceOf(ref)));
  return {
    holders: Number(r.holders),
    nonAccreditedHolders: Number(r.nonAccreditedHolders),
    usHolders: Number(r.usHolders),
    nonAccreditedPurchasers: Number(r.nonAccreditedPurchasers),
    trackedSupply: r.trackedSupply,
  };
}

export async function readInvestor(ref: ComplianceRef, module: RulesModule, identity: string): Promise<InvestorRecord> {
  const r = await ref.client.read(moduleFor(ref, module).getInvestor(complianceOf(ref), getAddress(identity)));
  return {
    balance: r.balance,
    wallets: Number(r.wallets),
    accredited: r.accredited,
    usPerson: r.usPerson,
    liquidateOnly: r.liquidateOnly,
    issuer: r.issuer,
    purchased: r.purchased,
  };
}

/** The identity a wallet is counted under, or null while it holds nothing. */
export async function readWalletInvestor(ref: ComplianceRef, module: RulesModule, wallet: string): Promise<string | null> {
  const id = (await ref.client.read(moduleFor(ref, module).walletInvestor(complianceOf(ref), getAddress(wallet)))) as string;
  return id === ZeroAddress ? null : id;
}

export async function readLocks(ref: ComplianceRef, module: RulesModule, wallet: string): Promise<LockRecord[]> {
  const r = (await ref.client.read(moduleFor(ref, module).getLocks(complianceOf(ref), getAddress(wallet)))) as LockRecord[];
  return r.map((l) => ({ amount: l.amount, until: l.until, accreditedMayReceive: l.accreditedMayReceive }));
}

/** What the wallet must keep now, for a transfer to an accredited investor or the issuer (`receiverExempt`) or not. */
export async function readLockedBalance(ref: ComplianceRef, module: RulesModule, wallet: string, receiverExempt = false): Promise<bigint> {
  return ref.client.read(moduleFor(ref, module).lockedBalance(complianceOf(ref), getAddress(wallet), receiverExempt));
}

export function decodeRuleBits(bits: bigint): RuleCode[] {
  return (Object.keys(RuleBit) as RuleCode[]).filter((k) => (bits & RuleBit[k]) !== 0n);
}

/**
 * The module's rules a transfer breaks at the latest block ([] if it passes; `from` null: a mint). Only this
 * module: identity verification, pause and freezes are the token's own checks.
 */
export async function failedRules(ref: ComplianceRef, module: RulesModule, from: string | null, to: string, amount: bigint): Promise<RuleCode[]> {
  const c = moduleFor(ref, module);
  const bits = (await ref.client.read(c.failedRules(from === null ? ZeroAddress : getAddress(from), getAddress(to), amount, complianceOf(ref)))) as bigint;
  return decodeRuleBits(bits);
}
