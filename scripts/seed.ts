import { IssuerDesk, type OnboardOptions } from './issuerDesk.js';
import { askAs, gqlOk, type Ask } from './graphqlClient.js';

/**
 * The demo market of the embedded default, created through the gateway as
 * its users would: the issuer creates and deploys tokens and onboards
 * investors, a broker-dealer opens their custody accounts, the bank funds
 * them with the cash token, the ATS operator admits the broker-dealer and
 * resting orders make a book. Every step is idempotent (fixed keys), so a
 * restart on the same data folder changes nothing.
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
  { name: 'Ines Duarte', o: { country: 'PT', usPerson: false, incomeCents: '6000000' } },
  { name: 'Jonas Berg', o: { country: 'SE', usPerson: false, accredited: true } },
  { name: 'Kemi Adeyemi', o: { country: 'NG', usPerson: false, aml: false } },
  { name: 'Northwind Pension Fund', o: { country: 'CA', usPerson: false, accredited: true, type: 'ENTITY' } },
];

/** Who does what in the demo market (organisations of the dev tokens `npm start` prints). */
export const DEMO_ORGS = { issuer: 'issuer-co', broker: 'broker-co', venue: 'ats-co', settlement: 'settle-co' } as const;

/** Cash each custody account starts with, in whole units of the cash token. */
export const DEMO_CASH_UNITS = 1_000_000n;

export interface SeedCredentials {
  issuer: string; // ISSUER_AGENT + COMPLIANCE_OFFICER of DEMO_ORGS.issuer
  broker: string; // BROKER_DEALER of DEMO_ORGS.broker
  venue: string; // ATS_OPERATOR of DEMO_ORGS.venue
}

export interface SeedOptions {
  /** Mints cash to a custody wallet on chain (the bank of the default setup); without it accounts are not funded. */
  mintCash?: (wallet: string, amount: bigint) => Promise<boolean>;
  /** Base units per whole unit of the cash token (10^decimals). */
  cashUnit?: bigint;
  say?: (line: string) => void;
  /** How long to wait for custody to book deposits it sees on chain. */
  depositTimeoutMs?: number;
}

export interface SeedReport {
  tokens: Record<string, string>;
  investors: Record<string, string>;
  accounts: Record<string, { id: string; wallet: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyOf = (name: string) => name.replace(/\W/g, '-');

export async function seedDemoMarket(gatewayUrl: string, who: SeedCredentials, o: SeedOptions = {}): Promise<SeedReport> {
  const say = o.say ?? (() => undefined);
  const desk = new IssuerDesk(gatewayUrl, who.issuer);
  const broker = askAs(gatewayUrl, who.broker);

  const tokens: Record<string, string> = {};
  // A fixed distribution start keeps the request content identical across runs (idempotency).
  const start = new Date(Date.UTC(new Date().getUTCFullYear(), 0, 1)).toISOString();
  for (const t of DEMO_TOKENS) {
    tokens[t.symbol] = await desk.createToken(t.symbol, t.exemption, t.extra.replace('__START__', start));
    await desk.deploy(tokens[t.symbol]);
    say(`  token ${t.symbol} (${t.exemption}) deployed: ${tokens[t.symbol]}`);
  }

  // Investors hold through custody: the account's wallet becomes their wallet at issuance (registered on chain).
  const investors: Record<string, string> = {};
  const accounts: SeedReport['accounts'] = {};
  for (const i of DEMO_INVESTORS) {
    investors[i.name] = await desk.register(i.name, i.o);
    const a = (await broker<{ openCustodyAccount: { id: string; walletAddress: string } }>(`mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id walletAddress } }`,
      { i: investors[i.name], k: `demo-${keyOf(i.name)}` })).openCustodyAccount;
    accounts[i.name] = { id: a.id, wallet: a.walletAddress };
  }
  await waitForWallets(desk, Object.values(investors));
  say(`  ${DEMO_INVESTORS.length} investors onboarded in ${new Set(DEMO_INVESTORS.map((i) => i.o.country)).size} countries, each with a custody account at ${DEMO_ORGS.broker}`);

  // Acquisition dates hang off the first token's creation, so a restart sends the very same requests.
  const created = new Date((await desk.run<{ securityToken: { createdAt: string } }>(`query($t: ID!) { securityToken(id: $t) { createdAt } }`, { t: tokens.ACME })).securityToken.createdAt);
  const before = (months: number) => { const d = new Date(created); d.setUTCMonth(d.getUTCMonth() - months); return d; };
  const grants: [string, string, string, Date][] = [
    ['ACME', 'Avery Capital LLC', '5000', before(14)],
    ['ACME', 'Northwind Pension Fund', '3000', before(13)],
    ['ACME', 'Blake Morgan', '2000', before(2)],
    ['BOLT', 'Avery Capital LLC', '1000', before(13)],
    ['BOLT', 'Casey Lee', '300', before(13)],
    ['ORBS', 'Dana Fischer', '800', before(1)],
    ['ORBS', 'Fumiko Tanaka', '400', before(1)],
    ['CIVA', 'Elliot Smith', '250', before(3)],
    ['CIVB', 'Ines Duarte', '120', before(2)],
    ['CROW', 'Casey Lee', '50', before(1)],
  ];
  const issued: [string, string][] = [];
  for (const [symbol, name, amount, at] of grants) {
    const r = await desk.issue(tokens[symbol], investors[name], amount, at, `demo-${symbol}-${keyOf(name)}`, '100000');
    if (r.status === 'DONE') issued.push([symbol, name]);
    say(`  issued ${amount} ${symbol} to ${name}: ${r.status}${r.status === 'REJECTED' ? ` (${r.eligibility.results.filter((x: { passed: boolean }) => !x.passed).map((x: { code: string }) => x.code).join(', ')})` : ''}`);
  }

  const cashUnit = o.cashUnit ?? 1n;
  const funded = o.mintCash ? DEMO_INVESTORS.filter((i) => i.o.kyc !== false && i.o.aml !== false) : []; // the bank serves only cleared clients
  if (o.mintCash) {
    let minted = 0;
    for (const i of funded) if (await o.mintCash(accounts[i.name].wallet, DEMO_CASH_UNITS * cashUnit)) minted++;
    say(`  ${funded.length} custody accounts hold the cash token (${minted} funded now with ${DEMO_CASH_UNITS} each, ${funded.length - minted} funded before)`);
  }

  // Custody books what it sees arrive on chain (after confirmations); orders need those balances.
  const timeout = o.depositTimeoutMs ?? 60_000;
  for (const [symbol, name] of issued) await waitForBooks(broker, accounts[name].id, tokens[symbol], timeout);
  for (const i of funded) await waitForBooks(broker, accounts[i.name].id, 'CASH', timeout);
  await gqlOk(gatewayUrl, who.venue, `mutation($o: String!) { admitSubscriber(org: $o, reason: "demo broker-dealer: FINRA member, onboarding complete") { org } }`, { o: DEMO_ORGS.broker });
  const resting: [string, string, 'BUY' | 'SELL', string, string][] = [
    ['ACME', 'Avery Capital LLC', 'SELL', '105', '500'],
    ['ACME', 'Northwind Pension Fund', 'SELL', '106', '300'],
    ['ACME', 'Jonas Berg', 'BUY', '101', '200'],
    ['ACME', 'Fumiko Tanaka', 'BUY', '100', '150'],
    ['BOLT', 'Avery Capital LLC', 'SELL', '22', '200'],
  ];
  if (o.mintCash) {
    for (const [symbol, name, side, price, quantity] of resting) {
      const p = (await broker<{ placeOrder: { accepted: boolean; rejections: { code: string }[] } }>(`mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code } } }`, {
        in: { tokenId: tokens[symbol], accountId: accounts[name].id, side, type: 'LIMIT', timeInForce: 'GTC', price, quantity, clientOrderId: `demo-rest-${symbol}-${keyOf(name)}-${side}` },
      })).placeOrder;
      say(`  resting ${side} ${quantity} ${symbol} @ ${price} for ${name}: ${p.accepted ? 'on the book' : `refused (${p.rejections.map((r) => r.code).join(', ')})`}`);
    }
  }
  await openDemoVote(desk, tokens.ACME, created, say);
  return { tokens, investors, accounts };
}

/** One open vote of ACME's holders of record, as of the token's creation (fixed dates: a restart sends the same request). */
async function openDemoVote(desk: IssuerDesk, tokenId: string, created: Date, say: (line: string) => void): Promise<void> {
  const closesAt = new Date(created.getTime() + 90 * 86_400_000);
  const r = await desk.raw(`mutation($in: OpenVoteInput!) { openVote(input: $in) { id status eligibleUnits } }`, { in: {
    idempotencyKey: 'demo-vote-ACME', tokenId, recordDate: created.toISOString(), closesAt: closesAt.toISOString(),
    question: 'Approve the 2027 equity incentive plan?', options: ['FOR', 'AGAINST', 'ABSTAIN'],
  } });
  const v = (r.body.data as { openVote?: { id: string; status: string; eligibleUnits: string } } | null)?.openVote;
  // A data folder older than the vote's closing date cannot open it any more: the seed goes on without it.
  say(v ? `  vote ${v.id} of ACME's holders of record: ${v.status}, ${v.eligibleUnits} units may vote until ${closesAt.toISOString()}`
    : `  no demo vote: ${r.body.errors?.[0]?.message}`);
}

async function waitForWallets(desk: IssuerDesk, ids: string[], timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const d = await desk.run<{ investors: { id: string; wallets: { registeredOnChain: boolean }[] }[] }>(`{ investors { id wallets { registeredOnChain } } }`);
    const pending = d.investors.filter((i) => ids.includes(i.id) && !i.wallets.some((w) => w.registeredOnChain));
    if (!pending.length) return;
    if (Date.now() > end) throw new Error(`custody wallets of ${pending.length} investors are not registered on chain yet`);
    await sleep(250);
  }
}

async function waitForBooks(broker: Ask, accountId: string, asset: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const d = await broker<{ custodyAccount: { balances: { asset: string; total: string }[] } | null }>(`query($id: ID!) { custodyAccount(id: $id) { balances { asset total } } }`, { id: accountId });
    if (d.custodyAccount?.balances.some((b) => b.asset === asset && BigInt(b.total) > 0n)) return;
    if (Date.now() > end) throw new Error('custody has not booked the issued tokens (deposits) in time');
    await sleep(250);
  }
}
