import { askAs } from './graphqlClient.js';
import { IssuerDesk } from './issuerDesk.js';
import type { SeedCredentials, SeedReport } from './seed.js';

/**
 * One paid dividend in the demo market, through the gateway: the issuer's treasury (an investor
 * recorded as the issuer, with a custody account funded by the bank) pays 10,000 cash units over
 * ACME's holders of record, with tax forms on file for two of them, and waits until custody paid
 * it. Idempotent: fixed keys, and the record and payment dates hang off ACME's creation.
 */
export const DEMO_DIVIDEND_KEY = 'demo-ACME-dividend-1';
export const TREASURY = 'Demo Issuer Treasury';

export interface DividendOptions {
  mintCash: (wallet: string, amount: bigint) => Promise<boolean>;
  /** Gas for the treasury's custody wallet (it signs the payments). */
  fuel: (wallet: string, wei: bigint) => Promise<boolean>;
  cashUnit: bigint;
  say: (line: string) => void;
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function seedPaidDividend(gatewayUrl: string, who: SeedCredentials, market: SeedReport, o: DividendOptions): Promise<{ distributionId: string; status: string }> {
  const desk = new IssuerDesk(gatewayUrl, who.issuer);
  const broker = askAs(gatewayUrl, who.broker);
  const treasury = await desk.register(TREASURY, { country: 'US', type: 'ENTITY', issuerRelation: 'ISSUER' });
  const account = (await broker<{ openCustodyAccount: { id: string; walletAddress: string } }>(`mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "demo-treasury", investorId: $i, kind: SEGREGATED }) { id walletAddress } }`,
    { i: treasury })).openCustodyAccount;
  await o.mintCash(account.walletAddress, 1_000_000n * o.cashUnit);
  await o.fuel(account.walletAddress, 10n ** 18n);

  // Forms on file: Avery (a US entity) a W-9, Northwind (a Canadian pension fund) a W-8BEN-E claiming the Canada treaty; Blake none.
  const created = new Date((await desk.run<{ securityToken: { createdAt: string } }>(`query($t: ID!) { securityToken(id: $t) { createdAt } }`, { t: market.tokens.ACME })).securityToken.createdAt);
  for (const [name, form, country] of [['Avery Capital LLC', 'W9', null], ['Northwind Pension Fund', 'W8BEN_E', 'CA']] as const) {
    const id = market.investors[name];
    const on = (await desk.run<{ investor: { taxForms: { form: string }[] } }>(`query($i: ID!) { investor(id: $i) { taxForms { form } } }`, { i: id })).investor.taxForms;
    if (on.length) continue;
    await desk.run<{ recordTaxForm: { id: string } }>(`mutation($in: RecordTaxFormInput!) { recordTaxForm(input: $in) { id } }`,
      { in: { investorId: id, form, treatyCountry: country, signedAt: created.toISOString(), reason: 'form received at onboarding' } });
  }

  const end = Date.now() + (o.timeoutMs ?? 120_000);
  // The paying account needs its cash booked at custody before the payment can reserve it.
  for (;;) {
    const b = (await broker<{ custodyAccount: { balances: { asset: string; available: string }[] } }>(`query($a: ID!) { custodyAccount(id: $a) { balances { asset available } } }`, { a: account.id })).custodyAccount.balances;
    if (b.some((x) => x.asset === 'CASH' && BigInt(x.available) > 0n)) break;
    if (Date.now() > end) throw new Error('custody has not booked the treasury\'s cash in time');
    await sleep(250);
  }
  const d = (await desk.run<{ announceDistribution: { id: string } }>(`mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id } }`, {
    in: {
      idempotencyKey: DEMO_DIVIDEND_KEY, tokenId: market.tokens.ACME, kind: 'DIVIDEND', recordDate: created.toISOString(), paymentDate: created.toISOString(),
      totalAmount: (10_000n * o.cashUnit).toString(), asset: 'CASH', payingAccountId: account.id, excludeIssuer: true,
    },
  })).announceDistribution;
  for (;;) {
    const s = (await desk.run<{ distribution: { status: string; gross: string; withheld: string; net: string; counts: { paid: number; held: number; failed: number } } }>(`query($id: ID!) { distribution(id: $id) { status gross withheld net counts { paid held failed } } }`, { id: d.id })).distribution;
    if (s.status === 'COMPLETED') {
      o.say(`  ACME dividend paid from the issuer's treasury: gross ${s.gross}, withheld ${s.withheld}, net ${s.net} (cash base units) to ${s.counts.paid} holders of record: ${d.id}`);
      return { distributionId: d.id, status: s.status };
    }
    if (Date.now() > end) throw new Error(`the ACME dividend is not paid yet (${JSON.stringify(s)})`);
    await sleep(250);
  }
}
