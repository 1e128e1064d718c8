import { Wallet } from 'ethers';
import { gql, gqlOk, type TestStack } from '../support/stack.js';

/** Steps an issuer and a transfer agent take through the gateway, shared by the issuance tests. */
export class IssuerDesk {
  constructor(readonly stack: TestStack, readonly token: string, readonly url = stack.gateway.url) {}

  static async open(stack: TestStack, org = 'issuer-co'): Promise<IssuerDesk> {
    return new IssuerDesk(stack, await stack.token(org, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']));
  }

  run<T = any>(query: string, variables?: Record<string, unknown>) {
    return gqlOk<T>(this.url, this.token, query, variables);
  }

  raw(query: string, variables?: Record<string, unknown>) {
    return gql(this.url, this.token, query, variables);
  }

  async createToken(symbol: string, exemption: string, extra = ''): Promise<string> {
    const d = await this.run(`mutation { createSecurityToken(input: { idempotencyKey: "${symbol}", name: "${symbol} shares", symbol: "${symbol}", decimals: 0, exemption: ${exemption} ${extra} }) { id } }`);
    return d.createSecurityToken.id;
  }

  async deploy(tokenId: string) {
    return (await this.run(`mutation($t: ID!) { deploySecurityToken(tokenId: $t) { status contracts { token compliance rulesModule identityRegistry } } }`, { t: tokenId })).deploySecurityToken;
  }

  /** A fully onboarded investor (KYC approved, screening clear, optional accreditation) with a fresh wallet. */
  async onboard(name: string, o: { country?: string; usPerson?: boolean; accredited?: boolean; kyc?: boolean; aml?: boolean } = {}) {
    const wallet = Wallet.createRandom();
    const inv = (await this.run(`mutation($k: String!, $n: String!, $c: CountryCode!, $us: Boolean!) { registerInvestor(input: { idempotencyKey: $k, legalName: $n, type: INDIVIDUAL, jurisdiction: $c, usPerson: $us }) { id } }`,
      { k: name.replace(/\W/g, "-"), n: name, c: o.country ?? 'US', us: o.usPerson ?? (o.country ?? 'US') === 'US' })).registerInvestor.id as string;
    const now = new Date().toISOString();
    if (o.kyc !== false) await this.run(`mutation($i: ID!, $at: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $at, reason: "documents verified") { id } }`, { i: inv, at: now });
    if (o.aml !== false) await this.run(`mutation($i: ID!, $at: DateTime!) { recordAmlScreening(investorId: $i, status: CLEAR, screenedAt: $at, reason: "screening provider clear") { id } }`, { i: inv, at: now });
    if (o.accredited) await this.run(`mutation($i: ID!, $at: DateTime!) { recordAccreditation(investorId: $i, accredited: true, method: THIRD_PARTY_LETTER, verifiedAt: $at, reason: "CPA letter") { id } }`, { i: inv, at: now });
    await this.run(`mutation($i: ID!, $a: Address!) { addInvestorWallet(investorId: $i, address: $a, reason: "custody wallet") { id } }`, { i: inv, a: wallet.address });
    return { id: inv, wallet: wallet.address };
  }

  async issue(tokenId: string, investorId: string, amount: string, acquiredAt?: Date, key = `${tokenId}-${investorId}-${amount}-${acquiredAt?.getTime() ?? 'now'}`) {
    return (await this.run(`mutation($in: IssueTokensInput!) { issueTokens(input: $in) { id status txHash eligibility { allowed results { code passed message } } } }`, {
      in: { idempotencyKey: key, tokenId, investorId, amount, ...(acquiredAt ? { acquiredAt: acquiredAt.toISOString() } : {}) },
    })).issueTokens;
  }

  async eligibility(tokenId: string, from: string | null, to: string, amount: string) {
    return (await this.run(`query($t: ID!, $f: ID, $to: ID!, $a: BigInt!) { transferEligibility(tokenId: $t, from: $f, to: $to, amount: $a) {
      allowed results { code passed message regulation currentValue limit blockingUntil } notApplicable } }`, { t: tokenId, f: from, to, a: amount })).transferEligibility;
  }

  /** Waits until the queued on-chain identity work is applied and the indexer has caught up. */
  async settled(timeoutMs = 60_000) {
    const db = this.stack.subgraphs.issuance.db;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const [r] = await db.query<{ n: string; err: string | null }>("SELECT count(*) AS n, max(last_error) AS err FROM chain_jobs WHERE status = 'PENDING'");
      if (Number(r.n) === 0) return;
      if (Date.now() > end) throw new Error(`chain jobs still pending: ${r.n} (${r.err})`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

export const monthsAgo = (n: number) => { const d = new Date(); d.setUTCMonth(d.getUTCMonth() - n); return d; };
