import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { IssuerDesk, type OnboardOptions } from './issuerDesk.js';

/**
 * The demo market of the embedded default, created through the gateway as
 * an issuer would. Every step is idempotent (fixed keys, wallets derived
 * from names), so a restart on the same data folder changes nothing.
 */
export const DEMO_TOKENS = [
  { symbol: 'ACME', exemption: 'REG_D_506C', extra: '' },
  { symbol: 'BOLT', exemption: 'REG_D_506B', extra: ', transferRules: { blockedCountries: ["CN"] }' },
  { symbol: 'ORBS', exemption: 'REG_S', extra: ', regS: { category: CATEGORY_3, securityType: EQUITY, domesticIssuer: false, distributionCompliancePeriodStart: "__START__" }' },
  { symbol: 'CIVA', exemption: 'REG_A_TIER1', extra: '' },
  { symbol: 'CIVB', exemption: 'REG_A_TIER2', extra: '' },
  { symbol: 'CROW', exemption: 'REG_CF', extra: '' },
] as const;

export const DEMO_INVESTORS: { name: string; o: OnboardOptions }[] = [
  { name: 'Avery Capital LLC', o: { country: 'US', accredited: true, type: 'ENTITY' } },
  { name: 'Blake Morgan', o: { country: 'US', accredited: true } },
  { name: 'Casey Lee', o: { country: 'US', accredited: false, incomeCents: '9000000' } },
  { name: 'Dana Fischer', o: { country: 'DE', usPerson: false, accredited: true } },
  { name: 'Elliot Smith', o: { country: 'GB', usPerson: false } },
  { name: 'Fumiko Tanaka', o: { country: 'JP', usPerson: false, accredited: true } },
  { name: 'Gao Wei', o: { country: 'CN', usPerson: false } },
  { name: 'Harper Quinn', o: { country: 'US', kyc: false } },
];

/** A dev-only wallet per demo name: the same address every run. */
export const demoWallet = (name: string) => new Wallet(keccak256(toUtf8Bytes(`tokenstack demo ${name}`)));

export interface SeedReport { tokens: Record<string, string>; investors: Record<string, string> }

export async function seedDemoMarket(gatewayUrl: string, issuerToken: string, say: (line: string) => void = () => undefined): Promise<SeedReport> {
  const desk = new IssuerDesk(gatewayUrl, issuerToken);
  const tokens: Record<string, string> = {};
  // A fixed distribution start keeps the request content identical across runs (idempotency).
  const start = new Date(Date.UTC(new Date().getUTCFullYear(), 0, 1)).toISOString();
  for (const t of DEMO_TOKENS) {
    tokens[t.symbol] = await desk.createToken(t.symbol, t.exemption, t.extra.replace('__START__', start));
    await desk.deploy(tokens[t.symbol]);
    say(`  token ${t.symbol} (${t.exemption}) deployed: ${tokens[t.symbol]}`);
  }
  const investors: Record<string, string> = {};
  for (const i of DEMO_INVESTORS) {
    investors[i.name] = (await desk.onboard(i.name, { ...i.o, wallet: demoWallet(i.name).address })).id;
  }
  say(`  ${DEMO_INVESTORS.length} investors onboarded in ${new Set(DEMO_INVESTORS.map((i) => i.o.country)).size} countries`);
  // Acquisition dates hang off the first token's creation, so a restart sends the very same requests.
  const created = new Date((await desk.run(`query($t: ID!) { securityToken(id: $t) { createdAt } }`, { t: tokens.ACME })).securityToken.createdAt);
  const before = (months: number) => { const d = new Date(created); d.setUTCMonth(d.getUTCMonth() - months); return d; };
  const grants: [string, string, string, Date][] = [
    ['ACME', 'Avery Capital LLC', '5000', before(14)],
    ['ACME', 'Blake Morgan', '2000', before(2)],
    ['BOLT', 'Avery Capital LLC', '1000', before(13)],
    ['BOLT', 'Casey Lee', '300', before(13)],
    ['ORBS', 'Dana Fischer', '800', before(1)],
    ['ORBS', 'Fumiko Tanaka', '400', before(1)],
    ['CIVA', 'Elliot Smith', '250', before(3)],
    ['CROW', 'Casey Lee', '50', before(1)],
  ];
  for (const [symbol, name, amount, at] of grants) {
    const r = await desk.issue(tokens[symbol], investors[name], amount, at, `demo-${symbol}-${name.replace(/\W/g, '-')}`, '100000');
    say(`  issued ${amount} ${symbol} to ${name}: ${r.status}${r.status === 'REJECTED' ? ` (${r.eligibility.results.filter((x: { passed: boolean }) => !x.passed).map((x: { code: string }) => x.code).join(', ')})` : ''}`);
  }
  return { tokens, investors };
}
