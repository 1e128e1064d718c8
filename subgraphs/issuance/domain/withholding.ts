/**
 * Which rate of tax a distribution withholds from one holder, and on what basis. No I/O; the rates
 * are configuration (WITHHOLDING_CONFIG: a default table and per-token overrides), the rules are:
 *
 * - US person: no withholding with a Form W-9 on file; backup withholding otherwise (IRC §3406).
 * - Anyone else: 30% on US-source FDAP income, IRC §1441 (nonresident alien individuals) or §1442
 *   (foreign corporations), reduced to the treaty rate of the holder's residence country when a
 *   Form W-8BEN (individual) or W-8BEN-E (entity) claiming that treaty is on file (IRC §894,
 *   Treas. Reg. §1.1441-6). A coupon of registered debt to a foreign holder with a W-8 on file is
 *   portfolio interest (IRC §871(h), §881(c)): the `foreignWithForm` rate.
 * - A return of capital is not a dividend (IRC §301(c)(2)): no withholding by default.
 * - Cash in lieu of a fractional unit at a split is the gross proceeds of a sale of the fraction
 *   (IRC §1001, broker-reported under §6045), not a dividend: a foreign holder's gain from a sale is
 *   not FDAP income (Treas. Reg. §1.1441-2(b)(2)(i)), so no §1441/§1442 withholding; a US holder
 *   without a W-9 is still subject to backup withholding (IRC §3406(b)(3)(C): §6045 payments).
 *
 * A form counts when it is the holder's kind of form, was signed by the instant asked about and has
 * not expired then (a W-8BEN stays in force to the end of the third calendar year after signing,
 * Treas. Reg. §1.1441-1(e)(4)(ii), unless an earlier expiry is recorded).
 */
export type DistributionKind = 'DIVIDEND' | 'COUPON' | 'RETURN_OF_CAPITAL' | 'CASH_IN_LIEU';
export type TaxFormKind = 'W9' | 'W8BEN' | 'W8BEN_E';

export interface KindRates {
  /** US person with a W-9. */
  usWithForm: number;
  /** US person without a W-9 (backup withholding). */
  usNoForm: number;
  /** Foreign holder without a valid W-8 claiming a treaty rate. */
  foreignNoForm: number;
  /** Foreign holder with any valid W-8 (portfolio interest); overrides the treaty table when set. */
  foreignWithForm?: number;
  /** Treaty rates by residence country (ISO 3166-1 alpha-2). */
  treaty: Record<string, number>;
}
export type WithholdingTable = Record<DistributionKind, KindRates>;
export interface WithholdingConfig {
  defaults: WithholdingTable;
  /** Per token id: rates replacing the defaults (a treaty table given replaces the default one entry by entry). */
  tokens: Record<string, Partial<Record<DistributionKind, Partial<KindRates>>>>;
}

// Treaty rates on portfolio dividends (IRS Publication 515, Table 1 and the treaties' dividend articles).
const DIVIDEND_TREATY: Record<string, number> = { GB: 1500, DE: 1500, FR: 1500, CA: 1500, CH: 1500, NL: 1500, IE: 1500, JP: 1000, AU: 1500, LU: 1500 };

export const defaultWithholding: WithholdingConfig = {
  defaults: {
    DIVIDEND: { usWithForm: 0, usNoForm: 2400, foreignNoForm: 3000, treaty: DIVIDEND_TREATY },
    COUPON: { usWithForm: 0, usNoForm: 2400, foreignNoForm: 3000, foreignWithForm: 0, treaty: {} },
    RETURN_OF_CAPITAL: { usWithForm: 0, usNoForm: 0, foreignNoForm: 0, treaty: {} },
    CASH_IN_LIEU: { usWithForm: 0, usNoForm: 2400, foreignNoForm: 0, foreignWithForm: 0, treaty: {} },
  },
  tokens: {},
};

export const KINDS: readonly DistributionKind[] = ['DIVIDEND', 'COUPON', 'RETURN_OF_CAPITAL', 'CASH_IN_LIEU'];
const bps = (v: unknown, where: string): number => {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 10_000) throw new Error(`${where} must be an integer of 0 to 10000 basis points`);
  return v as number;
};

function checkRates(r: Partial<KindRates>, where: string): Partial<KindRates> {
  for (const k of ['usWithForm', 'usNoForm', 'foreignNoForm', 'foreignWithForm'] as const) if (r[k] !== undefined) bps(r[k], `${where}.${k}`);
  for (const [c, v] of Object.entries(r.treaty ?? {})) {
    if (!/^[A-Z]{2}$/.test(c)) throw new Error(`${where}.treaty: ${c} is not an ISO 3166-1 alpha-2 code`);
    bps(v, `${where}.treaty.${c}`);
  }
  return r;
}

function merge(base: KindRates, over: Partial<KindRates> | undefined): KindRates {
  return over ? { ...base, ...over, treaty: { ...base.treaty, ...(over.treaty ?? {}) } } : base;
}

/** The setting's JSON ({ defaults?: {KIND: rates}, tokens?: {tok_...: {KIND: rates}} }) over the built-in table. */
export function withholdingConfigFrom(v: unknown): WithholdingConfig {
  const o = (v ?? {}) as { defaults?: Partial<Record<string, Partial<KindRates>>>; tokens?: Record<string, Partial<Record<string, Partial<KindRates>>>> };
  const known = (rec: Record<string, unknown>, where: string) => {
    for (const k of Object.keys(rec)) if (!KINDS.includes(k as DistributionKind)) throw new Error(`${where}: unknown distribution kind ${k}`);
  };
  known(o.defaults ?? {}, 'defaults');
  const defaults = Object.fromEntries(KINDS.map((k) => [k, merge(defaultWithholding.defaults[k], o.defaults?.[k] && checkRates(o.defaults[k]!, `defaults.${k}`))])) as WithholdingTable;
  const tokens: WithholdingConfig['tokens'] = {};
  for (const [t, rec] of Object.entries(o.tokens ?? {})) {
    known(rec, `tokens.${t}`);
    tokens[t] = Object.fromEntries(Object.entries(rec).map(([k, r]) => [k, checkRates(r!, `tokens.${t}.${k}`)]));
  }
  return { defaults, tokens };
}

export const ratesFor = (c: WithholdingConfig, tokenId: string, kind: DistributionKind): KindRates => merge(c.defaults[kind], c.tokens[tokenId]?.[kind]);

export interface TaxForm { form: TaxFormKind; treatyCountry: string | null; signedAt: Date; expiresAt: Date | null }
export interface TaxHolder { type: 'INDIVIDUAL' | 'ENTITY'; jurisdiction: string; usPerson: boolean }
export interface Withholding { rateBps: number; basis: string; form: TaxFormKind | null }

/** When a form without a recorded expiry stops counting: the end of the third calendar year after signing. */
export function formExpiry(f: TaxForm): Date {
  return f.expiresAt ?? (f.form === 'W9' ? new Date(8.64e15) : new Date(Date.UTC(f.signedAt.getUTCFullYear() + 4, 0, 1)));
}

/** The holder's own kind of form in force at `at`, the latest signed; null when none. */
export function formInForce(holder: TaxHolder, forms: readonly TaxForm[], at: Date): TaxForm | null {
  const kind: TaxFormKind = holder.usPerson ? 'W9' : holder.type === 'ENTITY' ? 'W8BEN_E' : 'W8BEN';
  const valid = forms.filter((f) => f.form === kind && f.signedAt <= at && formExpiry(f) > at);
  return valid.sort((a, b) => b.signedAt.getTime() - a.signedAt.getTime())[0] ?? null;
}

export function withholdingFor(kind: DistributionKind, rates: KindRates, holder: TaxHolder, form: TaxForm | null): Withholding {
  const of = kind === 'RETURN_OF_CAPITAL' ? 'return of capital (IRC §301(c)(2))' : kind === 'COUPON' ? 'interest' : kind === 'CASH_IN_LIEU' ? 'cash in lieu of a fractional unit (gross proceeds of a sale, IRC §1001, §6045)' : 'dividend';
  if (holder.usPerson) {
    return form
      ? { rateBps: rates.usWithForm, basis: `US person, Form W-9 on file: no backup withholding (IRC §3406) on ${of}`, form: 'W9' }
      : { rateBps: rates.usNoForm, basis: `US person without a Form W-9: backup withholding (IRC §3406(a)(1)(A)) on ${of}`, form: null };
  }
  const section = holder.type === 'ENTITY' ? 'IRC §1442 (foreign corporation)' : 'IRC §1441 (nonresident alien)';
  if (kind === 'CASH_IN_LIEU') {
    return { rateBps: form ? rates.foreignWithForm ?? rates.foreignNoForm : rates.foreignNoForm, basis: `foreign holder: gross proceeds of a sale are not FDAP income (Treas. Reg. §1.1441-2(b)(2)(i)), no ${section} withholding on ${of}`, form: form?.form ?? null };
  }
  const formName = holder.type === 'ENTITY' ? 'W-8BEN-E' : 'W-8BEN';
  if (form && rates.foreignWithForm !== undefined) {
    return { rateBps: rates.foreignWithForm, basis: `${section}; Form ${formName} on file: portfolio interest exemption (IRC §871(h), §881(c)) on ${of}`, form: form.form };
  }
  const treaty = form && form.treatyCountry === holder.jurisdiction ? rates.treaty[holder.jurisdiction] : undefined;
  if (treaty !== undefined) {
    return { rateBps: treaty, basis: `${section}; treaty rate of ${holder.jurisdiction} claimed on Form ${formName} (IRC §894, Treas. Reg. §1.1441-6) on ${of}`, form: form!.form };
  }
  return { rateBps: rates.foreignNoForm, basis: `${section}: statutory rate on US-source ${of}${form ? ` (Form ${formName} claims no treaty rate for ${holder.jurisdiction})` : `, no Form ${formName} on file`}`, form: form?.form ?? null };
}
