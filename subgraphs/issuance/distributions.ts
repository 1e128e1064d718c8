import type { Caller } from '../kit/auth.js';
import { investorOnly, scopeOf, type Scope } from '../kit/access.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { isId } from '../kit/inputs.js';
import { appendEvents } from '../kit/outbox.js';
import { checkIdempotencyKey, investorOfCaller, positive, requireReason, tokenOfIssuer } from './access.js';
import { capTable } from './captable.js';
import { perUnit, proRata, withheldOf, type Allocation } from './domain/entitlements.js';
import { formInForce, KINDS, ratesFor, withholdingFor, type DistributionKind, type TaxForm, type TaxFormKind, type WithholdingConfig } from './domain/withholding.js';
import { audit } from './store/records.js';
import * as store from './store/distributions.js';
import type { DistributionRow, EntitlementRow } from './store/distributions.js';
import type { TokenRow } from './store/tokens.js';
import { investorRow, type InvestorRow } from './store/investors.js';

/**
 * Distributions (dividends, coupons, returns of capital): announced by the issuer's agent, their
 * entitlements fixed from the cap table as of the record date (the lots' owners at that instant, so
 * a holder who sold since is still paid and a buyer since is not), with the tax each holder's
 * jurisdiction, type and forms on file call for: at once for a record date past, once the chain has
 * passed it otherwise (record-dates.ts). Paying them is distribution-payments.ts.
 */
export interface AnnounceInput {
  idempotencyKey: string; tokenId: string; kind: DistributionKind; recordDate: Date; paymentDate: Date;
  amountPerUnit?: bigint | null; totalAmount?: bigint | null; asset: string; payingAccountId: string; excludeIssuer?: boolean | null;
}
export interface PayingAccount { id: string; investorId: string; walletAddress: string | null }
export interface DistributionEnv {
  withholding: WithholdingConfig;
  now(): Date;
  /** Custody's account record (null: no such account). */
  custodyAccount(accountId: string): Promise<PayingAccount | null>;
  /** Countries whose holders are held, not paid (COMPLIANCE_CONFIG), re-checked on a release. */
  sanctionedCountries: readonly string[];
  /** Brings the lots up to the chain's confirmed head (a record date just past). */
  syncHoldings(): Promise<void>;
  /** Looks for due payments now (a distribution paid at once). */
  kickPayments(): void;
}

/** The assets custody can pay a distribution in. */
const PAYABLE_ASSETS = ['CASH'];
const ISSUER_READERS = ['ISSUER_AGENT', 'AUDITOR', 'COMPLIANCE_OFFICER'];

/** The `entitlement.updated` event: the entitlement as it is now, with the two organisations that may see it (subscriptions.ts). */
export const entitlementEvent = (e: EntitlementRow, d: Pick<DistributionRow, 'id' | 'token_id' | 'issuer_org'>, investorOrg: string) => ({
  entitlementId: e.id, distributionId: d.id, tokenId: d.token_id, investorId: e.investor_id, status: e.status,
  gross: e.gross, withheld: e.withheld, net: e.net, txHash: e.tx_hash, reason: e.reason, at: e.updated_at,
  issuerOrg: d.issuer_org, investorOrg,
});

function allocate(i: Pick<EntitlementTerms, 'amountPerUnit' | 'totalAmount'>, t: TokenRow, holders: { investorId: string; units: bigint }[]): { allocations: Allocation[]; unallocated: bigint } {
  if (i.totalAmount != null) return { allocations: proRata(i.totalAmount, holders), unallocated: 0n };
  return perUnit(i.amountPerUnit!, t.decimals, holders);
}

/**
 * Amounts received on the retirement of a debt instrument are received in exchange for it (IRC §1271(a)(1)), and a
 * redemption of a holder's whole interest in a share is an exchange (IRC §302(a), (b)(3)): gain under §1001, not FDAP
 * income, so nothing is withheld under §1441/§1442 or §3406 (see README, interpretations).
 */
export const REDEMPTION_BASIS = 'redemption proceeds: amount realized on retirement / complete redemption (IRC §1271(a)(1), §302(b)(3), §1001), not FDAP income';

/** Each allocation's entitlement, with the tax the holder's jurisdiction, type and forms on file call for (none on a redemption). */
export async function entitlementRows(
  q: Queryable, withholding: WithholdingConfig, tokenId: string, kind: DistributionKind | 'REDEMPTION', allocations: readonly Allocation[], investors: ReadonlyMap<string, InvestorRow>, now: Date,
): Promise<store.NewEntitlement[]> {
  const forms = new Map<string, TaxForm[]>();
  for (const f of await store.taxFormsOf(q, [...investors.keys()])) {
    forms.set(f.investor_id, [...(forms.get(f.investor_id) ?? []), { form: f.form as TaxFormKind, treatyCountry: f.treaty_country, signedAt: f.signed_at, expiresAt: f.expires_at }]);
  }
  const rates = kind === 'REDEMPTION' ? null : ratesFor(withholding, tokenId, kind);
  return allocations.filter((a) => a.gross > 0n).map((a) => {
    const inv = investors.get(a.investorId)!;
    const holder = { type: inv.type as 'INDIVIDUAL' | 'ENTITY', jurisdiction: inv.jurisdiction, usPerson: inv.us_person };
    const form = formInForce(holder, forms.get(inv.id) ?? [], now);
    const w = rates && kind !== 'REDEMPTION' ? withholdingFor(kind, rates, holder, form) : { rateBps: 0, basis: REDEMPTION_BASIS, form: form?.form ?? null };
    const withheld = withheldOf(a.gross, w.rateBps);
    return {
      id: newId('ent'), investor_id: inv.id, units: a.units.toString(), gross: a.gross.toString(), withheld: withheld.toString(), net: (a.gross - withheld).toString(),
      rate_bps: w.rateBps, basis: w.basis, jurisdiction: inv.jurisdiction, tax_form: w.form,
    };
  });
}

export const sumOf = (rows: readonly store.NewEntitlement[], k: 'units' | 'gross' | 'withheld' | 'net') => rows.reduce((s, r) => s + BigInt(r[k]), 0n).toString();

/** The asset and the paying account of a distribution (or a redemption): CASH, from an account of an investor of the issuer's organisation. */
export async function checkPayment(db: Db, env: Pick<DistributionEnv, 'custodyAccount'>, t: TokenRow, asset: string, payingAccountId: string): Promise<void> {
  if (!PAYABLE_ASSETS.includes(asset)) throw badInput('UNKNOWN_ASSET', `a distribution is paid in one of ${PAYABLE_ASSETS.join(', ')}`, { asset: asset.slice(0, 80) });
  if (!isId(payingAccountId, 'acc')) throw badInput('INVALID_ID', 'payingAccountId is not a custody account id');
  // The issuer pays from its own account, or a paying agent's it onboarded: the account's investor is of the issuer's organisation.
  const account = await env.custodyAccount(payingAccountId);
  const owner = account ? await investorRow(db, account.investorId) : undefined;
  if (!owner || owner.org !== t.issuer_org) {
    throw appError('ISSUANCE.PAYING_ACCOUNT_REFUSED', 'the paying account must be a custody account of an investor the issuer onboarded (itself or its paying agent)', { details: { payingAccountId } });
  }
}

/** The terms the entitlements are fixed from (an announcement's, or a stored distribution's at its record date). */
export interface EntitlementTerms { kind: DistributionKind; recordDate: Date; amountPerUnit: bigint | null; totalAmount: bigint | null; excludeIssuer: boolean }
export interface FixedEntitlements {
  rows: store.NewEntitlement[]; investors: Map<string, InvestorRow>;
  sums: Pick<DistributionRow, 'units' | 'gross' | 'withheld' | 'net' | 'unallocated'>;
}

/**
 * The entitlements of the holders of record: `capTable(asOf: recordDate)`, each holder's share and
 * the tax its forms on file at `now` call for. Null when nobody held the token at the record date.
 * The one path for a distribution fixed when announced and one fixed later (record-dates.ts).
 */
export async function entitlementsOfRecord(q: Queryable, withholding: WithholdingConfig, t: TokenRow, i: EntitlementTerms, now: Date): Promise<FixedEntitlements | null> {
  const table = await capTable(q, t, i.recordDate);
  const holders = table.holders.filter((h) => !(i.excludeIssuer && h.investor.issuer_relation === 'ISSUER'));
  if (!holders.length) return null;
  const { allocations, unallocated } = allocate(i, t, holders.map((h) => ({ investorId: h.investor.id, units: h.balance })));
  const investors = new Map(holders.map((h) => [h.investor.id, h.investor]));
  const rows = await entitlementRows(q, withholding, t.id, i.kind, allocations, investors, now);
  const sum = (k: 'units' | 'gross' | 'withheld' | 'net') => sumOf(rows, k);
  return { rows, investors, sums: { units: sum('units'), gross: sum('gross'), withheld: sum('withheld'), net: sum('net'), unallocated: unallocated.toString() } };
}

/** Stores fixed entitlements of a distribution (due on its payment date) with their events: `distribution.announced`, or `distribution.fixed` later. */
export async function recordEntitlements(q: Queryable, caller: Pick<Caller, 'subject' | 'org'>, d: DistributionRow, f: FixedEntitlements, topic = 'distribution.announced'): Promise<void> {
  const ents = await store.insertEntitlements(q, d.id, d.payment_date, f.rows);
  await audit(q, caller, topic, d.token_id, null, { distributionId: d.id, kind: d.kind, gross: d.gross, holders: ents.length, recordDate: d.record_date.toISOString() });
  await appendEvents(q, [
    { topic, key: d.id, payload: { distributionId: d.id, tokenId: d.token_id, kind: d.kind, recordDate: d.record_date, paymentDate: d.payment_date, gross: d.gross } },
    ...ents.map((e) => ({ topic: 'entitlement.updated', key: e.id, payload: entitlementEvent(e, d, f.investors.get(e.investor_id)!.org) })),
  ]);
}

export async function announceDistribution(db: Db, env: DistributionEnv, caller: Caller, i: AnnounceInput): Promise<DistributionRow> {
  checkIdempotencyKey(i.idempotencyKey);
  const t = await tokenOfIssuer(db, caller, i.tokenId, ['ISSUER_AGENT']);
  const hash = requestHash({ ...i, excludeIssuer: !!i.excludeIssuer });
  const prior = await store.distributionByKey(db, t.issuer_org, i.idempotencyKey);
  if (prior) {
    assertSameRequest(prior.request_hash, hash, i.idempotencyKey);
    return prior;
  }

  if (!KINDS.includes(i.kind)) throw badInput('KIND_NOT_ANNOUNCED_HERE', 'a redemption is announced with announceRedemption');
  if (i.kind === 'CASH_IN_LIEU') throw badInput('KIND_NOT_ANNOUNCED', 'cash in lieu of fractions is paid by its split (announceSplit with a payingAccountId), not announced');
  if ((i.amountPerUnit == null) === (i.totalAmount == null)) throw badInput('AMOUNT_REQUIRED', 'give exactly one of amountPerUnit or totalAmount');
  positive(i.amountPerUnit ?? i.totalAmount!, i.amountPerUnit != null ? 'amountPerUnit' : 'totalAmount');
  const now = env.now();
  if (i.paymentDate.getTime() < i.recordDate.getTime()) throw badInput('PAYMENT_BEFORE_RECORD_DATE', 'the payment date cannot be earlier than the record date');
  await checkPayment(db, env, t, i.asset, i.payingAccountId);

  // A record date still to come: announced now, its entitlements fixed once the chain has passed it (record-dates.ts).
  if (i.recordDate.getTime() <= now.getTime()) await env.syncHoldings();
  const terms = { kind: i.kind, recordDate: i.recordDate, amountPerUnit: i.amountPerUnit ?? null, totalAmount: i.totalAmount ?? null, excludeIssuer: !!i.excludeIssuer };
  const fixed = i.recordDate.getTime() > now.getTime() ? null : await entitlementsOfRecord(db, env.withholding, t, terms, now);
  if (i.recordDate.getTime() <= now.getTime() && !fixed) throw appError('ISSUANCE.NO_HOLDERS_OF_RECORD', 'nobody held the token at the record date', { details: { recordDate: i.recordDate.toISOString() } });
  return db.tx(async (q) => {
    const { row, created } = await store.insertDistribution(q, {
      id: newId('dis'), token_id: t.id, issuer_org: t.issuer_org, kind: i.kind, record_date: i.recordDate, payment_date: i.paymentDate, asset: i.asset,
      paying_account_id: i.payingAccountId, amount_per_unit: i.amountPerUnit?.toString() ?? null, total_amount: i.totalAmount?.toString() ?? null,
      exclude_issuer: !!i.excludeIssuer, units: null, gross: null, withheld: null, net: null, unallocated: '0', ...fixed?.sums, fixed_at: fixed ? now : null, lapsed_reason: null,
      announced_by: caller.subject, idempotency_key: i.idempotencyKey, request_hash: hash,
    });
    if (!created) return row;
    if (fixed) await recordEntitlements(q, caller, row, fixed);
    else {
      await audit(q, caller, 'distribution.announced', t.id, null, { distributionId: row.id, kind: row.kind, recordDate: row.record_date.toISOString(), awaitingRecordDate: true });
      await appendEvents(q, [{ topic: 'distribution.announced', key: row.id, payload: { distributionId: row.id, tokenId: t.id, kind: row.kind, recordDate: row.record_date, paymentDate: row.payment_date, gross: null } }]);
    }
    return row;
  });
}

/** Who reads a distribution whole (every entitlement, the withholding report): the issuer's organisation in a reading role, or a service. */
export const readsWhole = (caller: Caller, d: Pick<DistributionRow, 'issuer_org'>): boolean =>
  caller.kind === 'service' || (caller.org === d.issuer_org && !investorOnly(caller) && caller.roles.some((r) => ISSUER_READERS.includes(r)));

const issuerOrgOf = (caller: Caller): string | null => (caller.kind === 'user' && caller.roles.some((r) => ISSUER_READERS.includes(r)) && !investorOnly(caller) ? caller.org : null);
const scope = (caller: Caller): Scope => scopeOf(caller);

export function listDistributions(db: Db, caller: Caller, f: { tokenId?: string | null; id?: string | null }) {
  const s = scope(caller);
  return store.visibleDistributions(db, { issuerOrg: s.all ? null : issuerOrgOf(caller), scope: s, tokenId: f.tokenId ?? null, id: f.id ?? null })
    .then((rows) => (s.all || s.org !== '-' ? rows : []));
}

/** Entitlements the caller sees: a distribution's all for the issuer, otherwise its own investors' (those its organisation onboarded). */
export async function listEntitlements(db: Db, caller: Caller, f: { distributionId?: string | null; investorId?: string | null; status?: string | null }, whole: readonly DistributionRow[] = []) {
  const s = scope(caller);
  if (!s.all && s.org === '-') return [];
  return store.visibleEntitlements(db, {
    allOf: whole.filter((d) => readsWhole(caller, d)).map((d) => d.id), scope: s,
    distributionId: f.distributionId ?? null, investorId: f.investorId ?? null, status: f.status ?? null,
  });
}

export interface TaxFormInput { investorId: string; form: TaxFormKind; signedAt: Date; treatyCountry?: string | null; expiresAt?: Date | null; reason: string }

/** Records a tax form the investor gave its onboarding organisation; it counts for distributions announced from then on. */
export async function recordTaxForm(db: Db, env: Pick<DistributionEnv, 'now'>, caller: Caller, i: TaxFormInput): Promise<InvestorRow> {
  const why = requireReason(i.reason);
  if (i.signedAt.getTime() > env.now().getTime()) throw badInput('SIGNED_IN_FUTURE', 'a form cannot be signed later than now');
  if (i.expiresAt && i.expiresAt.getTime() <= i.signedAt.getTime()) throw badInput('EXPIRES_BEFORE_SIGNED', 'expiresAt must be later than signedAt');
  if (i.form === 'W9' && i.treatyCountry) throw badInput('TREATY_ON_W9', 'a Form W-9 claims no treaty rate');
  return db.tx(async (q) => {
    const inv = await investorOfCaller(q, caller, i.investorId, ['ISSUER_AGENT', 'BROKER_DEALER', 'COMPLIANCE_OFFICER'], true);
    if ((i.form === 'W9') !== inv.us_person) throw badInput('WRONG_TAX_FORM', inv.us_person ? 'a US person gives a Form W-9' : 'a foreign holder gives a Form W-8BEN (individual) or W-8BEN-E (entity)');
    if (i.form !== 'W9' && (i.form === 'W8BEN_E') !== (inv.type === 'ENTITY')) throw badInput('WRONG_TAX_FORM', 'W-8BEN is for individuals, W-8BEN-E for entities');
    await store.insertTaxForm(q, { investor_id: inv.id, form: i.form, treaty_country: i.treatyCountry ?? null, signed_at: i.signedAt, expires_at: i.expiresAt ?? null, recorded_by: caller.subject });
    await audit(q, caller, 'investor.tax_form_recorded', inv.id, why, { form: i.form, treatyCountry: i.treatyCountry ?? null, signedAt: i.signedAt.toISOString() });
    return inv;
  });
}
