// The project's own ERC-3643 compliance module (contracts/TokenstackRulesModule.sol): deploy, bind to a token's
// ModularCompliance, and the issuer settings, sent by the compliance owner (the service's key).
import { Contract, ZeroAddress, getAddress, type TransactionReceipt } from 'ethers';
import { loadArtifact } from './artifacts.js';
import type { ChainClient } from './client.js';

/** One deployment serves every token: settings and counters are kept per compliance. */
export interface RulesModule {
  address: string;
  contract: Contract;
}

/** What a setter needs: the compliance whose settings change and its owner's client. A TokenSuite fits. */
export interface ComplianceRef {
  client: ChainClient;
  addresses: { compliance: string; token?: string };
}

/** Bits of `failedRules` (TokenstackRulesModule.sol). */
export const RuleBit = {
  COUNTRY: 1n << 0n,
  US_PERSON: 1n << 1n,
  LIQUIDATE_ONLY: 1n << 2n,
  MAX_BALANCE: 1n << 3n,
  MIN_HOLDING: 1n << 4n,
  HOLDER_CAP: 1n << 5n,
  NON_ACCREDITED_CAP: 1n << 6n,
  LOCKED: 1n << 7n,
  NO_TOKEN: 1n << 8n,
} as const;
export type RuleCode = keyof typeof RuleBit;

export type CountryMode = 'NONE' | 'ALLOW' | 'BLOCK';
const COUNTRY_MODES: readonly CountryMode[] = ['NONE', 'ALLOW', 'BLOCK'];

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
  /** Reg CF: the locked part may still go to an investor flagged accredited. Default false. */
  accreditedMayReceive?: boolean;
}

/** A lock as stored on chain. */
export interface LockRecord {
  amount: bigint;
  /** Unix seconds. */
  until: bigint;
  accreditedMayReceive: boolean;
}

export interface InvestorFlags {
  accredited: boolean;
  /** A US person for Reg S even if the registry country is not 840. */
  usPerson: boolean;
  /** May sell, may not acquire (no transfer in, no mint). */
  liquidateOnly: boolean;
}

export interface RulesSettings {
  countryMode: CountryMode;
  countries: number[];
  /** Unix seconds; 0n: no Reg S block. */
  usPersonBlockedUntil: bigint;
  /** 0n: none. */
  maxBalance: bigint;
  /** 0n: none. */
  minHolding: bigint;
  /** 0: no cap. */
  maxHolders: number;
  maxNonAccreditedHolders: number;
}

export interface HolderCounts {
  holders: number;
  nonAccreditedHolders: number;
  /** Sum of the balances the module accounts for; equals totalSupply once every holder is synced. */
  trackedSupply: bigint;
}

export interface InvestorRecord extends InvestorFlags {
  /** Sum of the investor's wallets' balances as the module counts it. */
  balance: bigint;
  /** Wallets with a balance. */
  wallets: number;
}

export function toUnixSeconds(t: ChainTime): bigint {
  if (typeof t === 'bigint') return t;
  const ms = t.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid date');
  return BigInt(Math.floor(ms / 1000));
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

function moduleFor(ref: ComplianceRef, module: RulesModule): Contract {
  return module.contract.connect(ref.client.signer) as Contract;
}

function compliance(ref: ComplianceRef): string {
  return getAddress(ref.addresses.compliance);
}

export async function deployRulesModule(client: ChainClient): Promise<RulesModule> {
  const contract = await client.deploy(loadArtifact('TokenstackRulesModule', 'project'));
  return { address: getAddress(contract.target as string), contract };
}

/** A module deployed earlier (address read back from the database). */
export function attachRulesModule(client: ChainClient, address: string): RulesModule {
  return { address: getAddress(address), contract: new Contract(getAddress(address), loadArtifact('TokenstackRulesModule', 'project').abi, client.signer) };
}

/**
 * compliance.addModule(module), as the compliance owner. The module refuses to bind to a token that already has
 * supply it has not accounted for: call syncHolders with every holder first.
 */
export async function bindRulesModule(suite: ComplianceRef & { compliance: Contract }, module: RulesModule): Promise<TransactionReceipt> {
  return suite.client.send((suite.compliance.connect(suite.client.signer) as Contract).addModule(module.address));
}

export async function unbindRulesModule(suite: ComplianceRef & { compliance: Contract }, module: RulesModule): Promise<TransactionReceipt> {
  return suite.client.send((suite.compliance.connect(suite.client.signer) as Contract).removeModule(module.address));
}

/**
 * Replaces the country rule: ALLOW (the receiver's registry country must be listed), BLOCK (must not be) or NONE.
 * Countries are ISO 3166-1 numeric codes (0..999).
 */
export async function setCountryPolicy(ref: ComplianceRef, module: RulesModule, policy: { mode: CountryMode; countries: readonly number[] }): Promise<TransactionReceipt> {
  const mode = COUNTRY_MODES.indexOf(policy.mode);
  if (mode < 0) throw new RangeError(`country mode must be one of ${COUNTRY_MODES.join(', ')}`);
  for (const c of policy.countries) {
    if (!Number.isInteger(c) || c < 0 || c > 999) throw new RangeError(`country ${c} is not an ISO 3166-1 numeric code`);
  }
  const countries = [...new Set(policy.countries)].sort((a, b) => a - b);
  return ref.client.send(moduleFor(ref, module).setCountryPolicy(compliance(ref), mode, countries));
}

/** Reg S distribution compliance period: no US person (registry country 840 or flagged) receives before `until`; null lifts it. */
export async function setUsPersonBlockedUntil(ref: ComplianceRef, module: RulesModule, until: ChainTime | null): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setUsPersonBlockedUntil(compliance(ref), until === null ? 0n : u64(until, 'until')));
}

/** Maximum balance of one investor (all its wallets), base units; 0n: none. A % of supply is converted by the caller. */
export async function setMaxBalance(ref: ComplianceRef, module: RulesModule, amount: bigint): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setMaxBalance(compliance(ref), u128(amount, 'maxBalance')));
}

/** After a transfer each investor holds 0 or at least this, base units; 0n: none. */
export async function setMinHolding(ref: ComplianceRef, module: RulesModule, amount: bigint): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setMinHolding(compliance(ref), u128(amount, 'minHolding')));
}

/** Caps on investors holding the token (12(g): 2000 / 500 non-accredited; 3(c)(1): 100); 0: no cap. */
export async function setHolderCaps(ref: ComplianceRef, module: RulesModule, caps: { maxHolders: number; maxNonAccreditedHolders: number }): Promise<TransactionReceipt> {
  return ref.client.send(
    moduleFor(ref, module).setHolderCaps(compliance(ref), u32(caps.maxHolders, 'maxHolders'), u32(caps.maxNonAccreditedHolders, 'maxNonAccreditedHolders')),
  );
}

/** Flags of an investor, keyed by its ONCHAINID (all its wallets). Unflagged investors count as non-accredited. */
export async function setInvestorFlags(ref: ComplianceRef, module: RulesModule, identity: string, flags: InvestorFlags): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).setInvestorFlags(compliance(ref), getAddress(identity), flags.accredited, flags.usPerson, flags.liquidateOnly));
}

function lockTuple(l: Lock): [bigint, bigint, boolean] {
  return [u128(l.amount, 'lock amount'), u64(l.until, 'lock until'), l.accreditedMayReceive ?? false];
}

/** Replaces a wallet's locks (Rule 144 / Reg CF lots); [] unlocks it. At most MAX_LOCKS. */
export async function setLocks(ref: ComplianceRef, module: RulesModule, wallet: string, locks: readonly Lock[]): Promise<TransactionReceipt> {
  if (locks.length > MAX_LOCKS) throw new RangeError(`at most ${MAX_LOCKS} locks per wallet (merge lots, keeping the later date)`);
  return ref.client.send(moduleFor(ref, module).setLocks(compliance(ref), getAddress(wallet), locks.map(lockTuple)));
}

/** Adds one lock (a newly issued lot); the wallet's expired locks are dropped on chain first. */
export async function addLock(ref: ComplianceRef, module: RulesModule, wallet: string, lock: Lock): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).addLock(compliance(ref), getAddress(wallet), lockTuple(lock)));
}

/** Replaces a wallet's locks with one that holds `amount` until changed; 0n unlocks the wallet. */
export async function setLockedBalance(ref: ComplianceRef, module: RulesModule, wallet: string, amount: bigint): Promise<TransactionReceipt> {
  return setLocks(ref, module, wallet, amount === 0n ? [] : [{ amount, until: FOREVER }]);
}

/** Reconciles the module's holder records with the token's balances (needed before binding to a token with holders). */
export async function syncHolders(ref: ComplianceRef, module: RulesModule, wallets: readonly string[]): Promise<TransactionReceipt> {
  return ref.client.send(moduleFor(ref, module).syncHolders(compliance(ref), wallets.map((w) => getAddress(w))));
}

// ---------------------------------------------------------------- reads

export async function readRulesSettings(ref: ComplianceRef, module: RulesModule): Promise<RulesSettings> {
  const c = moduleFor(ref, module);
  const [s, countries] = await ref.client.read(Promise.all([c.getSettings(compliance(ref)), c.getCountries(compliance(ref))]));
  return {
    countryMode: COUNTRY_MODES[Number(s.countryMode)],
    countries: (countries as bigint[]).map(Number),
    usPersonBlockedUntil: s.usPersonBlockedUntil,
    maxBalance: s.maxBalance,
    minHolding: s.minHolding,
    maxHolders: Number(s.maxHolders),
    maxNonAccreditedHolders: Number(s.maxNonAccreditedHolders),
  };
}

export async function readHolderCounts(ref: ComplianceRef, module: RulesModule): Promise<HolderCounts> {
  const r = await ref.client.read(moduleFor(ref, module).holderCounts(compliance(ref)));
  return { holders: Number(r.holders), nonAccreditedHolders: Number(r.nonAccreditedHolders), trackedSupply: r.trackedSupply };
}

export async function readInvestor(ref: ComplianceRef, module: RulesModule, identity: string): Promise<InvestorRecord> {
  const r = await ref.client.read(moduleFor(ref, module).getInvestor(compliance(ref), getAddress(identity)));
  return { balance: r.balance, wallets: Number(r.wallets), accredited: r.accredited, usPerson: r.usPerson, liquidateOnly: r.liquidateOnly };
}

export async function readLocks(ref: ComplianceRef, module: RulesModule, wallet: string): Promise<LockRecord[]> {
  const r = (await ref.client.read(moduleFor(ref, module).getLocks(compliance(ref), getAddress(wallet)))) as LockRecord[];
  return r.map((l) => ({ amount: l.amount, until: l.until, accreditedMayReceive: l.accreditedMayReceive }));
}

/** What the wallet must keep now, for a transfer to an accredited investor or not. */
export async function readLockedBalance(ref: ComplianceRef, module: RulesModule, wallet: string, toAccredited = false): Promise<bigint> {
  return ref.client.read(moduleFor(ref, module).lockedBalance(compliance(ref), getAddress(wallet), toAccredited));
}

export function decodeRuleBits(bits: bigint): RuleCode[] {
  return (Object.keys(RuleBit) as RuleCode[]).filter((k) => (bits & RuleBit[k]) !== 0n);
}

/**
 * The module's rules a transfer breaks at the latest block ([] if it passes; `from` null: a mint). Covers only this
 * module: identity verification, pause and freezes are the token's own checks.
 */
export async function failedRules(ref: ComplianceRef, module: RulesModule, from: string | null, to: string, amount: bigint): Promise<RuleCode[]> {
  const bits = (await ref.client.read(
    moduleFor(ref, module).failedRules(from === null ? ZeroAddress : getAddress(from), getAddress(to), amount, compliance(ref)),
  )) as bigint;
  return decodeRuleBits(bits);
}
