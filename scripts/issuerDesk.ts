import { Wallet } from 'ethers';
import { gql, gqlOk } from './graphqlClient.js';

/** deploySecurityToken's answer as deploy asks for it. */
export interface DeployedToken {
  status: string;
  contracts: { token: string; compliance: string; rulesModule: string | null; identityRegistry: string } | null;
}

/** One rule's answer in a transfer eligibility. */
export interface RuleResult {
  code: string;
  passed: boolean;
  message: string;
  regulation: string;
  currentValue: string | null;
  limit: string | null;
  blockingUntil: string | null;
}

/** transferEligibility's answer as eligibility asks for it. */
export interface Eligibility { allowed: boolean; results: RuleResult[]; notApplicable: string[] }

/** issueTokens' answer: the id is null when the issuance was refused (see eligibility). */
export interface IssuanceResult {
  id: string | null;
  status: string;
  txHash: string | null;
  eligibility: { allowed: boolean; results: Pick<RuleResult, 'code' | 'passed' | 'message'>[] };
}

export interface OnboardOptions {
  country?: string;
  usPerson?: boolean;
  accredited?: boolean;
  kyc?: boolean;
  aml?: boolean;
  type?: 'INDIVIDUAL' | 'ENTITY';
  /** A fixed wallet (idempotent seeding); default a fresh random one. */
  wallet?: string;
  incomeCents?: string;
  /** An affiliate of the issuer (17 CFR 230.144(a)(1)), or the issuer itself (its treasury); default none. */
  issuerRelation?: 'NONE' | 'AFFILIATE' | 'ISSUER';
}

/** The steps an issuer and its transfer agent take through the gateway (the seed and the tests both use it). */
export class IssuerDesk {
  constructor(readonly url: string, readonly token: string) {}

  run<T = unknown>(query: string, variables?: Record<string, unknown>) {
    return gqlOk<T>(this.url, this.token, query, variables);
  }

  raw(query: string, variables?: Record<string, unknown>) {
    return gql(this.url, this.token, query, variables);
  }

  async createToken(symbol: string, exemption: string, extra = ''): Promise<string> {
    const d = await this.run<{ createSecurityToken: { id: string } }>(`mutation { createSecurityToken(input: { idempotencyKey: "${symbol}", name: "${symbol} shares", symbol: "${symbol}", decimals: 0, exemption: ${exemption} ${extra} }) { id } }`);
    return d.createSecurityToken.id;
  }

  async deploy(tokenId: string): Promise<DeployedToken> {
    return (await this.run<{ deploySecurityToken: DeployedToken }>(`mutation($t: ID!) { deploySecurityToken(tokenId: $t) { status contracts { token compliance rulesModule identityRegistry } } }`, { t: tokenId })).deploySecurityToken;
  }

  /** A fully onboarded investor (KYC approved, screening clear, optional accreditation) with a wallet. */
  async onboard(name: string, o: OnboardOptions = {}) {
    const wallet = o.wallet ?? Wallet.createRandom().address;
    const inv = await this.register(name, o);
    await this.run<{ addInvestorWallet: { id: string } }>(`mutation($i: ID!, $a: Address!) { addInvestorWallet(investorId: $i, address: $a, reason: "custody wallet") { id } }`, { i: inv, a: wallet });
    return { id: inv, wallet };
  }

  /** An investor with its credentials and no wallet yet (a custody account brings one). */
  async register(name: string, o: Omit<OnboardOptions, 'wallet'> = {}): Promise<string> {
    const country = o.country ?? 'US';
    const inv = (await this.run<{ registerInvestor: { id: string } }>(
      `mutation($k: String!, $n: String!, $t: InvestorType!, $c: CountryCode!, $us: Boolean!, $inc: BigInt, $rel: IssuerRelation) { registerInvestor(input: {
        idempotencyKey: $k, legalName: $n, type: $t, jurisdiction: $c, usPerson: $us, annualIncomeCents: $inc, netWorthCents: $inc, issuerRelation: $rel }) { id } }`,
      { k: name.replace(/\W/g, '-'), n: name, t: o.type ?? 'INDIVIDUAL', c: country, us: o.usPerson ?? country === 'US', inc: o.incomeCents ?? null, rel: o.issuerRelation ?? null },
    )).registerInvestor.id;
    const now = new Date().toISOString();
    if (o.kyc !== false) await this.run<{ recordKyc: { id: string } }>(`mutation($i: ID!, $at: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $at, reason: "documents verified") { id } }`, { i: inv, at: now });
    if (o.aml !== false) await this.run<{ recordAmlScreening: { id: string } }>(`mutation($i: ID!, $at: DateTime!) { recordAmlScreening(investorId: $i, status: CLEAR, screenedAt: $at, reason: "screening provider clear") { id } }`, { i: inv, at: now });
    if (o.accredited) await this.run<{ recordAccreditation: { id: string } }>(`mutation($i: ID!, $at: DateTime!) { recordAccreditation(investorId: $i, accredited: true, method: THIRD_PARTY_LETTER, verifiedAt: $at, reason: "CPA letter") { id } }`, { i: inv, at: now });
    return inv;
  }

  async issue(tokenId: string, investorId: string, amount: string, acquiredAt?: Date, key = `${tokenId}-${investorId}-${amount}-${acquiredAt?.getTime() ?? 'now'}`, priceCents?: string): Promise<IssuanceResult> {
    return (await this.run<{ issueTokens: IssuanceResult }>(`mutation($in: IssueTokensInput!) { issueTokens(input: $in) { id status txHash eligibility { allowed results { code passed message } } } }`, {
      in: { idempotencyKey: key, tokenId, investorId, amount, ...(acquiredAt ? { acquiredAt: acquiredAt.toISOString() } : {}), ...(priceCents ? { priceCents } : {}) },
    })).issueTokens;
  }

  async eligibility(tokenId: string, from: string | null, to: string, amount: string): Promise<Eligibility> {
    return (await this.run<{ transferEligibility: Eligibility }>(`query($t: ID!, $f: ID, $to: ID!, $a: BigInt!) { transferEligibility(tokenId: $t, from: $f, to: $to, amount: $a) {
      allowed results { code passed message regulation currentValue limit blockingUntil } notApplicable } }`, { t: tokenId, f: from, to, a: amount })).transferEligibility;
  }
}

export const monthsAgo = (n: number) => { const d = new Date(); d.setUTCMonth(d.getUTCMonth() - n); return d; };
