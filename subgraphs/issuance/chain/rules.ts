import type { Db } from '../../kit/db/types.js';
import { countryNumeric } from '../../kit/countries.js';
import {
  attachRulesModule, bindRulesModule, setCountryPolicy, setHolderCaps, setInvestorFlags, setLocks, setMaxBalance, setMaxNonAccreditedPurchasers,
  setMaxSupplyShare, setMinHolding, setUsPersonBlockedUntil, MAX_LOCKS, type Lock, type RulesModule,
} from './modules.js';
import type { TokenSuite } from './trex.js';
import { addPeriod, type ComplianceConfig } from '../domain/compliance/index.js';
import { isRestrictedSecurity, rule144Maturity } from '../domain/compliance/rules/rule-144.js';
import { regSPeriod } from '../domain/compliance/rules/reg-s.js';
import { tokenSnapshot } from '../snapshot.js';
import type { TokenRow } from '../store/tokens.js';
import { lockableLots, type LockableLot } from '../store/holdings.js';
import type { InvestorRow } from '../store/investors.js';
import type { IssuanceChain } from './runtime.js';
import { accreditedNow } from '../accreditation.js';

/**
 * The on-chain half of the transfer rules: the project's compliance module
 * (contracts/TokenstackRulesModule.sol) gets the same figures the off-chain
 * engine uses, so that a transfer the engine refuses is refused on chain too.
 * Limits come from the token's policy and the compliance configuration.
 */
async function moduleOf(chain: IssuanceChain): Promise<RulesModule> {
  return attachRulesModule(await chain.client(), (await chain.setup()).rulesModule);
}

const NONE = Number.MAX_SAFE_INTEGER;

export function holderCapsFor(t: TokenRow, config: ComplianceConfig) {
  const p = t.policy;
  const twelveG = p.apply12gHolderCaps ?? !(t.exemption === 'REG_CF' || t.exemption === 'REG_A_TIER2');
  const maxHolders = Math.min(
    twelveG ? config.section12g.holdersOfRecordThreshold - 1 : NONE,
    p.fund3c1 ? (p.qualifyingVentureCapitalFund ? config.section3c1.maxHoldersQualifyingVentureCapitalFund : config.section3c1.maxHolders) : NONE,
    p.maxHolders ?? NONE,
  );
  return {
    maxHolders: maxHolders === NONE ? 0 : maxHolders,
    maxNonAccreditedHolders: twelveG ? config.section12g.nonAccreditedHoldersThreshold - 1 : 0,
    maxUsHolders: p.maxUsHolders ?? 0,
  };
}

/** Binds the module to a freshly deployed suite and applies the token's settings. Returns the module address. */
export async function configureRulesModule(chain: IssuanceChain, suite: TokenSuite, token: TokenRow, config: ComplianceConfig): Promise<string> {
  const module = await moduleOf(chain);
  await bindRulesModule(suite, module);
  await applyRulesSettings(chain, suite, token, config);
  return module.address;
}

export async function applyRulesSettings(chain: IssuanceChain, suite: TokenSuite, t: TokenRow, config: ComplianceConfig): Promise<void> {
  const module = await moduleOf(chain);
  const p = t.policy;
  const blocked = [...new Set([...(p.blockedCountries ?? []), ...config.sanctionedCountries])];
  await setCountryPolicy(suite, module, { allowed: (p.allowedCountries ?? []).map(countryNumeric), blocked: blocked.map(countryNumeric) });
  let usBlockedUntil: Date | null = null;
  if (t.exemption === 'REG_S' && t.reg_s) {
    const snap = tokenSnapshot(t);
    const end = addPeriod(snap.regS!.distributionCompliancePeriodStart, regSPeriod(snap, snap.regS!, config).period);
    usBlockedUntil = end.getTime() > Date.now() ? end : null;
  }
  await setUsPersonBlockedUntil(suite, module, usBlockedUntil);
  await setMaxBalance(suite, module, p.maxBalance ? BigInt(p.maxBalance) : 0n);
  await setMaxSupplyShare(suite, module, p.maxSupplyShareBps ?? 0);
  await setMinHolding(suite, module, p.minHolding ? BigInt(p.minHolding) : 0n);
  await setHolderCaps(suite, module, holderCapsFor(t, config));
  await setMaxNonAccreditedPurchasers(suite, module, t.exemption === 'REG_D_506B' ? config.rule506b.maxNonAccreditedPurchasers : 0);
}

export async function syncInvestorFlags(chain: IssuanceChain, suite: TokenSuite, i: InvestorRow, liquidateOnly: boolean, config: ComplianceConfig): Promise<void> {
  if (!i.identity_address) return;
  await setInvestorFlags(suite, await moduleOf(chain), i.identity_address, {
    accredited: accreditedNow(i, config), usPerson: i.us_person, liquidateOnly, issuer: i.issuer_relation === 'ISSUER',
  });
}

/** Locks a wallet must keep for its lots still under a holding period (Rule 144) or the Reg CF resale year. */
export type { LockableLot } from '../store/holdings.js';

export function locksFor(t: TokenRow, lots: readonly LockableLot[], config: ComplianceConfig, now = new Date()): Lock[] {
  const snap = tokenSnapshot(t);
  const locks: Lock[] = [];
  for (const l of lots) {
    const amount = BigInt(l.remaining);
    if (amount === 0n) continue;
    if (isRestrictedSecurity(snap)) {
      if (!l.restricted) continue; // freed by a resale after its holding period
      const until = rule144Maturity(new Date(l.holding_period_start), snap, config);
      if (until > now) locks.push({ amount, until });
    } else if (t.exemption === 'REG_CF') {
      const until = addPeriod(new Date(l.issued_at), config.regCf.resaleRestriction);
      if (until > now) locks.push({ amount, until, accreditedMayReceive: true });
    }
  }
  // The issuer's lock-up holds every lot until it ends.
  const lockup = t.policy.lockupUntil ? new Date(t.policy.lockupUntil) : undefined;
  if (lockup && lockup > now) {
    const all = lots.reduce((s, l) => s + BigInt(l.remaining), 0n);
    if (all > 0n) locks.push({ amount: all, until: lockup });
  }
  // At most MAX_LOCKS on chain: merge the earliest-ending neighbours, keeping the later end (never weaker than the books).
  locks.sort((a, b) => +new Date(a.until as Date) - +new Date(b.until as Date));
  while (locks.length > MAX_LOCKS) {
    const [a, b] = locks.splice(0, 2);
    locks.unshift({ amount: a.amount + b.amount, until: b.until, accreditedMayReceive: !!a.accreditedMayReceive && !!b.accreditedMayReceive });
  }
  return locks;
}

export async function syncLocks(db: Db, chain: IssuanceChain, suite: TokenSuite, t: TokenRow, investorId: string, wallet: string, config: ComplianceConfig): Promise<void> {
  const lots = await lockableLots(db, t.id, investorId);
  await setLocks(suite, await moduleOf(chain), wallet, locksFor(t, lots, config));
}
