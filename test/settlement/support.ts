/**
 * Settlement end to end: the whole stack on anvil (issuance deploys the
 * ERC-3643 suite, custody holds the wallets), with the settlement subgraph
 * restarted on the same port with its chain keys (scripts/stack.ts does not
 * pass them yet) and on a database that survives its restarts (a PGlite
 * folder, or a PostgreSQL database). A "bank" key deploys the cash token and
 * mints deposits; custody's books are credited for what the chain holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Contract, JsonRpcProvider, Wallet, type TypedDataDomain, type TypedDataField } from 'ethers';
import { serviceToken, type Role } from '../../subgraphs/kit/auth.js';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { settlement, settlementServices } from '../../subgraphs/settlement/index.js';
import type { SettlementChain } from '../../subgraphs/settlement/chain.js';
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import type { StackOptions } from '../../scripts/stack.js';
import { IssuerDesk, monthsAgo } from '../issuance/flow.js';
import { knownKeyEnv } from '../../subgraphs/kit/signer/index.js';
import { definedOnly } from '../../scripts/stack.js';
import type { Db, Queryable } from '../../subgraphs/kit/db/types.js';

export { gql, gqlOk };

export const SETTLEMENT_ORG = 'settle-co';
export const ATTESTATION_KEY = '0x' + 'a7'.repeat(32);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until `ok` holds (100 ms apart); a type guard narrows what it answers. */
export async function waitFor<T, U extends T>(what: string, fn: () => Promise<T>, ok: (v: T) => v is U, timeoutMs?: number): Promise<U>;
export async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs?: number): Promise<T>;
export async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)).slice(0, 2000)}`);
    await sleep(100);
  }
}

/**
 * Watches the statements a database runs, its transactions' included: `seen` lists their text in order; while
 * `refuse` matches a statement's text, that statement fails as one on a killed session would (its transaction
 * rolled back). `restore` puts the database back as it was.
 */
export function watchStatements(db: Db) {
  const { query, tx } = db;
  const w = {
    seen: [] as string[],
    refuse: null as ((sql: string) => boolean) | null,
    refused: 0,
    restore: () => Object.assign(db, { query, tx }),
  };
  const check = (sql: string) => {
    w.seen.push(sql);
    if (!w.refuse?.(sql)) return;
    w.refused++;
    throw new Error('terminating connection due to administrator command');
  };
  const watched = (q: Queryable): Queryable => ({
    query: async <T>(sql: string, params?: unknown[]) => {
      check(sql);
      return q.query<T>(sql, params);
    },
    exec: (sql: string) => q.exec(sql),
  });
  Object.assign(db, {
    query: async <T>(sql: string, params?: unknown[]) => {
      check(sql);
      return query.call(db, sql, params) as Promise<T[]>;
    },
    tx: <T>(fn: (q: Queryable) => Promise<T>, opts?: Parameters<Db['tx']>[1]) => tx.call(db, (q) => fn(watched(q)), opts) as Promise<T>,
  });
  return w;
}

/**
 * Holds each gross batch the settlement sends (by its chain batch id) until `release`, so that all those held leave
 * together (in one turn of the event loop: one settleMany). A batch that comes again (its lease ran out meanwhile and
 * another claim drove it) is refused: only its first arrival is sent.
 */
export function holdGross(chain: SettlementChain) {
  const { submitGross } = chain;
  const held = new Map<string, () => void>();
  chain.submitGross = (b) => new Promise((resolve, reject) => {
    if (held.has(b.chainBatchId)) reject(new Error('held already'));
    else held.set(b.chainBatchId, () => void submitGross.call(chain, b).then(resolve, reject));
  });
  return {
    held,
    release() {
      chain.submitGross = submitGross;
      for (const go of held.values()) go();
    },
  };
}

/** A settlement as `settlementOf` reads it (schema/settlement.graphql). */
export interface SettlementView {
  id: string; status: string; reasonCode: string | null; reason: string | null; final: boolean; attempts: number;
  txHash: string | null; blockNumber: string | null; cashAmount: string | null;
  rejectionReasons: { code: string; passed: boolean; message: string | null }[];
  eligibility: { code: string; passed: boolean }[];
  history: { status: string; reasonCode: string | null; reason: string | null; actor: string | null }[];
  batch: { id: string; mode: string; chainBatchId: string; status: string; txHash: string | null; legs: { token: string; from: string; to: string; amount: string }[]; settlementCount: number } | null;
  attestation: {
    typedData: string; record: string; signature: string; signer: string; digest: string; rulesHash: string;
    txHash: string; blockNumber: string; chainId: number; verifyingContract: string;
  } | null;
}

/** An attestation's `typedData`, parsed. */
export interface TypedDataJson { domain: TypedDataDomain; types: Record<string, TypedDataField[]>; primaryType: string; message: Record<string, unknown> }

/** placeOrder's answer as these tests read it (`order` where the query selects it). */
export interface PlaceAnswer { placeOrder: { accepted: boolean; order?: { id: string; status: string } | null; rejections: { code: string; message: string }[] } }
/** verifyAuditLog's answer. */
export interface AuditCheck { verifyAuditLog: { valid: boolean; breaks: { seq: string; kind: string; detail?: string }[] } }

export interface Party { investorId: string; accountId: string; wallet: string; org: string }

/** A 506(b) token traded by two admitted broker-dealers: alpha-bd's seller holds `shares`, beta-bd's buyer holds `cash`. */
export interface TradingPair { tokenId: string; token: Contract; seller: Party; buyer: Party; sellerBd: string; buyerBd: string }

export async function tradingPair(w: SettlementWorld, symbol: string, o: { shares: bigint; cash: bigint }): Promise<TradingPair> {
  const { tokenId, token } = await w.token506b(symbol);
  const [seller, buyer] = [await w.party(`${symbol} Seller`, 'alpha-bd'), await w.party(`${symbol} Buyer`, 'beta-bd')];
  await w.issue(tokenId, seller, o.shares);
  await w.fund(buyer, o.cash);
  const operator = await w.token('ats-co', ['ATS_OPERATOR']);
  for (const org of ['alpha-bd', 'beta-bd']) await gqlOk(w.url, operator, `mutation($o: String!) { admitSubscriber(org: $o, reason: "approved subscriber") { org } }`, { o: org });
  return { tokenId, token, seller, buyer, sellerBd: await w.token('alpha-bd', ['BROKER_DEALER']), buyerBd: await w.token('beta-bd', ['BROKER_DEALER']) };
}

export class SettlementWorld {
  stack!: TestStack;
  settlement!: RunningSubgraph;
  desk!: IssuerDesk;
  bank!: ChainClient;
  provider!: JsonRpcProvider;
  cash!: Contract;
  agent!: string; // SETTLEMENT_AGENT of the operator organisation
  auditor!: string;
  private db?: TestDatabase;
  private dir?: string;
  dbUrl = '';
  env: Record<string, string> = {};

  static async start(env: Record<string, string> = {}, stack: Partial<StackOptions> = {}): Promise<SettlementWorld> {
    const w = new SettlementWorld();
    w.stack = await startTestStack({ chain: 'anvil', ...stack });
    try {
      w.provider = new JsonRpcProvider(w.stack.chainRpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
      // The stack deployed the cash token and registered it with custody as CASH; its minter is the bank.
      w.bank = await createChainClient({ rpcUrl: w.stack.chainRpcUrl!, privateKey: w.stack.cash!.minterKey! });
      w.cash = new Contract(w.stack.cash!.address, loadArtifact('CashToken', 'project').abi, w.bank.signer);
      if (onPostgres()) {
        w.db = await createTestDatabase();
        w.dbUrl = w.db.url;
      } else {
        w.dir = mkdtempSync(join(tmpdir(), 'tokenstack-settlement-'));
        w.dbUrl = pathToFileURL(join(w.dir, 'db')).href;
      }
      w.env = {
        ...definedOnly(knownKeyEnv({ SETTLEMENT_OPERATOR_KEY: w.stack.anvil!.privateKeys[2], SETTLEMENT_ATTESTATION_KEY: ATTESTATION_KEY })),
        SETTLEMENT_OPERATOR_ORGS: SETTLEMENT_ORG,
        SETTLEMENT_RETRY_MS: '300',
        SETTLEMENT_RETRY_MAX_MS: '1000',
        SETTLEMENT_MAX_ATTEMPTS: '3',
        SETTLEMENT_LEASE_MS: '6000',
        SETTLEMENT_CHAIN_TIMEOUT_MS: '5000',
        SETTLEMENT_POLL_MS: '200',
        SETTLEMENT_NETTING_INTERVAL_MS: '300',
        SETTLEMENT_CONSENT_TTL_SECONDS: '60',
        ...env,
      };
      await w.stack.subgraphs.settlement.stop();
      w.settlement = await w.startSettlement();
      w.desk = await IssuerDesk.open(w.stack);
      w.agent = await w.stack.token(SETTLEMENT_ORG, ['SETTLEMENT_AGENT']);
      w.auditor = await w.stack.token(SETTLEMENT_ORG, ['AUDITOR']);
    } catch (e) {
      await w.stop();
      throw e;
    }
    return w;
  }

  /** The settlement subgraph's settings: the world's (plus `extra`), on its port and database, with its peers. */
  settlementEnv(extra: Record<string, string> = {}): Record<string, string> {
    const base = (name: 'issuance' | 'trading' | 'settlement' | 'custody') => this.stack.subgraphs[name].url.replace(/\/graphql$/, '');
    return definedOnly({
      PORT: String(this.stack.subgraphs.settlement.port), ISSUANCE_URL: base('issuance'), TRADING_URL: base('trading'), SETTLEMENT_URL: base('settlement'),
      CUSTODY_URL: base('custody'), DATABASE_URL: this.dbUrl, CHAIN_RPC_URL: this.stack.chainRpcUrl, AUTH_JWT_SECRET: this.stack.secrets.jwtSecret,
      SERVICE_SECRET: this.stack.secrets.serviceSecret, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...this.env, ...extra,
    });
  }

  /** (Re)starts the settlement subgraph on its port with the world's settings (plus `extra`). */
  async startSettlement(extra: Record<string, string> = {}): Promise<RunningSubgraph> {
    this.settlement = await startSubgraph(settlement, subgraphConfig(settlement, this.settlementEnv(extra)));
    return this.settlement;
  }

  /** The settlement subgraph as its own OS process (node dist-less, through tsx), so that a test can kill -9 it. */
  async spawnSettlement(extra: Record<string, string> = {}): Promise<ChildProcess> {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: '', ...this.settlementEnv(extra) };
    const child = spawn(process.execPath, ['--import', 'tsx', 'subgraphs/settlement/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const ready = `${this.stack.subgraphs.settlement.url.replace(/\/graphql$/, '')}/readyz`;
    await waitFor('the settlement process', async () => {
      if (child.exitCode !== null) throw new Error(`settlement process exited ${child.exitCode}: ${out.slice(-2000)}`);
      return fetch(ready).then((r) => r.status, () => 0);
    }, (st) => st === 200, 180_000); // a loaded machine starts a process slowly
    return child;
  }

  services() {
    return settlementServices(this.settlement.runtime)!;
  }

  get url() {
    return this.stack.gateway.url;
  }

  token(org: string, roles: Role[], extra?: { investorId?: string }) {
    return this.stack.token(org, roles, extra);
  }

  /** An internal operation of a subgraph, as a peer service would call it. */
  async rpc<T>(name: 'issuance' | 'custody' | 'trading' | 'settlement', method: string, body: Record<string, unknown>, as = 'settlement'): Promise<T> {
    const sub = name === 'settlement' ? this.settlement : this.stack.subgraphs[name];
    const r = await fetch(`${sub.url.replace(/\/graphql$/, '')}/internal/rpc/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await serviceToken({ serviceSecret: this.stack.secrets.serviceSecret, issuer: 'tokenstack' }, as)}` },
      body: JSON.stringify(body),
    });
    const j = (await r.json()) as { result?: T; error?: { code: string; message: string } };
    if (!r.ok) throw Object.assign(new Error(`${name}.${method}: ${j.error?.code} ${j.error?.message}`), { code: j.error?.code });
    return j.result as T;
  }

  /** A deployed Reg D 506(b) token, registered with custody. */
  async token506b(symbol: string): Promise<{ tokenId: string; address: string; token: Contract }> {
    const tokenId = await this.desk.createToken(symbol, 'REG_D_506B');
    const d = await this.desk.deploy(tokenId);
    if (d.status !== 'DEPLOYED' || !d.contracts) throw new Error(`deploy: ${JSON.stringify(d)}`);
    const address = d.contracts.token;
    await this.rpc('custody', 'registerAsset', { asset: tokenId, contractAddress: address });
    return { tokenId, address, token: new Contract(address, loadArtifact('Token', 'trex').abi, this.provider) };
  }

  /** An onboarded investor with a custody account (whose wallet issuance registers on chain). */
  async party(name: string, org: string, o: { accredited?: boolean; country?: string; kyc?: boolean } = {}): Promise<Party> {
    const country = o.country ?? 'US';
    const inv = (await this.desk.run<{ registerInvestor: { id: string } }>(`mutation($k: String!, $n: String!, $c: CountryCode!, $us: Boolean!) { registerInvestor(input: {
      idempotencyKey: $k, legalName: $n, type: INDIVIDUAL, jurisdiction: $c, usPerson: $us }) { id } }`,
    { k: `${name.replace(/\W/g, '-')}-${Date.now()}`, n: name, c: country, us: country === 'US' })).registerInvestor.id;
    const at = new Date().toISOString();
    if (o.kyc !== false) await this.desk.run(`mutation($i: ID!, $at: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $at, reason: "documents verified") { id } }`, { i: inv, at });
    await this.desk.run(`mutation($i: ID!, $at: DateTime!) { recordAmlScreening(investorId: $i, status: CLEAR, screenedAt: $at, reason: "clear") { id } }`, { i: inv, at });
    if (o.accredited !== false) await this.desk.run(`mutation($i: ID!, $at: DateTime!) { recordAccreditation(investorId: $i, accredited: true, method: THIRD_PARTY_LETTER, verifiedAt: $at, reason: "CPA letter") { id } }`, { i: inv, at });
    const custodian = await this.token(org, ['CUSTODIAN']);
    const acc = (await gqlOk<{ openCustodyAccount: { id: string; walletAddress: string } }>(this.url, custodian, `mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id walletAddress } }`,
      { i: inv, k: `acc-${inv}` })).openCustodyAccount;
    await waitFor(`wallet of ${name} on chain`, () => this.desk.run<{ investor: { wallets: { address: string; registeredOnChain: boolean }[] } | null }>(`query($i: ID!) { investor(id: $i) { wallets { address registeredOnChain } } }`, { i: inv }),
      (d) => !!d.investor?.wallets.some((x) => x.registeredOnChain));
    await this.desk.settled();
    return { investorId: inv, accountId: acc.id, wallet: acc.walletAddress, org };
  }

  /** Issues tokens to an investor (a lot old enough to resell); custody books the mint as a deposit. */
  async issue(tokenId: string, p: Party, amount: bigint, acquiredAt = monthsAgo(13)): Promise<void> {
    const before = BigInt((await this.balance(p.accountId, tokenId)).total);
    const r = await this.desk.issue(tokenId, p.investorId, amount.toString(), acquiredAt);
    if (r.status !== 'DONE') throw new Error(`issue: ${JSON.stringify(r)}`);
    await this.deposited(p, tokenId, before + amount);
  }

  /** Cash on chain (minted by the bank); custody books it as a deposit when its indexer sees it. */
  async fund(p: Party, amount: bigint): Promise<void> {
    const before = BigInt((await this.balance(p.accountId, 'CASH')).total);
    await this.bank.send(this.cash.mint(p.wallet, amount));
    await this.deposited(p, 'CASH', before + amount);
  }

  /** Waits until custody's books show what the chain delivered to the account (deposits are credited by its indexer). */
  async deposited(p: Party, asset: string, total: bigint): Promise<void> {
    await waitFor(`custody booking ${total} ${asset} for ${p.accountId}`, () => this.balance(p.accountId, asset), (b) => BigInt(b.total) >= total, 60_000);
  }

  async authorizeVenue(venue: string, tokenId: string): Promise<void> {
    await gqlOk(this.url, this.agent, `mutation($v: String!, $t: ID!) { authorizeVenueToken(venue: $v, tokenId: $t, authorized: true) { authorized } }`, { v: venue, t: tokenId });
  }

  balance(accountId: string, asset: string): Promise<{ total: string; reserved: string; available: string }> {
    return this.rpc('custody', 'balance', { accountId, asset });
  }

  async submit(token: string, input: Record<string, unknown>) {
    return gql<{ submitExternalTrade: { id: string; status: string; cashAmount: string | null } }>(this.url, token, `mutation($in: SubmitExternalTradeInput!) { submitExternalTrade(input: $in) { id status cashAmount } }`, { in: input });
  }

  settlementOf(id: string, token = this.agent): Promise<SettlementView | null> {
    return gqlOk<{ settlement: SettlementView | null }>(this.url, token, `query($id: ID!) { settlement(id: $id) { id status reasonCode reason final attempts txHash blockNumber cashAmount
      rejectionReasons { code passed message } eligibility { code passed }
      history { status reasonCode reason actor }
      batch { id mode chainBatchId status txHash legs { token from to amount } settlementCount }
      attestation { typedData record signature signer digest rulesHash txHash blockNumber chainId verifyingContract } } }`, { id }).then((d) => d.settlement);
  }

  waitStatus(id: string, statuses: string[], timeoutMs = 60_000, pred: (s: SettlementView) => boolean = () => true): Promise<SettlementView> {
    return waitFor(`settlement ${id} to be ${statuses.join('/')}`, () => this.settlementOf(id), (s): s is SettlementView => !!s && statuses.includes(s.status) && pred(s), timeoutMs);
  }

  async stop(): Promise<void> {
    this.provider?.destroy();
    await this.bank?.close();
    await this.settlement?.stop().catch(() => undefined);
    await this.stack?.stop();
    await this.db?.drop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export { Wallet, monthsAgo };
