/**
 * Trading on its own: the real trading subgraph (HTTP, graphql-ws, its
 * database on PGlite or PostgreSQL) against a stand-in for issuance and
 * custody served over real HTTP (their internal RPC and issuance's feed),
 * whose state the tests set and read: tokens, accounts, eligibility
 * answers, balances and reservations.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { trading, tradingServices } from '../../subgraphs/trading/index.js';
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.js';
import { gql, gqlOk } from '../../scripts/graphqlClient.js';

export { gql, gqlOk };

/** The venue's operator organisation in these tests (TRADING_OPERATOR_ORGS). */
export const VENUE_ORG = 'venue';

interface RuleResult { code: string; passed: boolean; message: string; regulation?: string; blockingUntil?: string }
interface Reservation { key: string; accountId: string; asset: string; amount: bigint; released: bigint; consumed: bigint }
/**
 * A call trading makes of the peers' internal RPC, as JSON: the fields the fake reads. Each method sends its
 * own; a release of the whole rest leaves out amount and idempotencyKey.
 */
type RpcCall = {
  tokenId: string; accountId: string; asset: string; amount?: string; idempotencyKey?: string; reservationKey: string;
  fromInvestorId?: string | null; toInvestorId?: string | null; kind?: string;
};

/** Issuance and custody as trading sees them, in memory, over HTTP. */
export class FakePeers {
  tokens = new Map<string, { id: string; symbol: string; decimals: number; exemption: string; paused: boolean }>();
  accounts = new Map<string, { id: string; org: string; investorId: string; kind: string; walletAddress: string }>();
  /** Failing receiver rules per investor (buy side); sender rules per investor (sell side). */
  receiverFails = new Map<string, RuleResult[]>();
  senderFails = new Map<string, RuleResult[]>();
  totals = new Map<string, bigint>();
  reservations = new Map<string, Reservation>();
  ops = new Map<string, string>();
  feed: { seq: string; topic: string; key: string; payload: unknown; createdAt: string }[] = [];
  calls: { method: string; body: RpcCall }[] = [];
  /** Methods that fail as if the peer were down. */
  down = new Set<string>();
  /** Added to every reply (a slow peer). */
  delayMs = 0;
  /** Runs before a call is answered (tests race things against it). */
  onCall?: (method: string, body: RpcCall) => Promise<void> | void;
  private server!: Server;
  private feedWaiters = new Set<() => void>();
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      };
      if (req.method === 'GET' && u.pathname === '/internal/feed') {
        const after = BigInt(u.searchParams.get('after') ?? '0');
        const topics = u.searchParams.get('topics')?.split(',');
        const pick = () => this.feed.filter((e) => BigInt(e.seq) > after && (!topics || topics.includes(e.topic)));
        if (pick().length) return send(200, { events: pick() });
        const t = setTimeout(() => { this.feedWaiters.delete(done); send(200, { events: pick() }); }, Math.min(Number(u.searchParams.get('waitMs') ?? 0), 500));
        const done = () => { clearTimeout(t); send(200, { events: pick() }); };
        this.feedWaiters.add(done);
        return;
      }
      const m = /^\/internal\/rpc\/(\w+)$/.exec(u.pathname);
      if (req.method !== 'POST' || !m) return send(404, { error: { code: 'NOT_FOUND', message: 'no route' } });
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const body = JSON.parse(raw || '{}') as RpcCall & { items?: RpcCall[]; questions?: RpcCall[] };
        // A batch call (reserveMany, transferEligibilityMany) is recorded, raced and failed as the single calls it carries.
        const batch = /^(\w+)Many$/.exec(m[1]);
        const list: RpcCall[] = batch ? (body.items ?? body.questions ?? []) : [body];
        const method = batch ? batch[1] : m[1];
        for (const b of list) this.calls.push({ method, body: b });
        list.reduce<Promise<void>>((p, b) => p.then(() => this.onCall?.(method, b)), Promise.resolve()).then(() => new Promise((r) => setTimeout(r, this.delayMs))).then(() => {
          if (this.down.has(method)) return send(503, { error: { code: 'UNAVAILABLE', message: 'down' } });
          const one = (b: RpcCall) => {
            try {
              return { ok: true as const, value: this.handle(method, b) };
            } catch (e) {
              const err = e as { code?: string; message: string; status?: number; extra?: object };
              return { ok: false as const, status: err.status ?? 422, error: { code: err.code ?? 'ERROR', message: err.message, ...err.extra } };
            }
          };
          if (batch) {
            const out = list.map(one).map((x) => (x.ok ? x : { ok: false, error: x.error }));
            return send(200, { result: { [body.items ? 'results' : 'answers']: out } });
          }
          const r = one(body);
          return r.ok ? send(200, { result: r.value }) : send(r.status, { error: r.error });
        });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.feedWaiters.forEach((w) => w());
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  token(symbol = 'ACME', exemption = 'REG_D_506C'): string {
    const id = newId('tok');
    this.tokens.set(id, { id, symbol, decimals: 0, exemption, paused: false });
    return id;
  }

  account(org: string, investorId = newId('inv')): { accountId: string; investorId: string } {
    const id = newId('acc');
    this.accounts.set(id, { id, org, investorId, kind: 'SEGREGATED', walletAddress: '0x' + randomBytes(20).toString('hex') });
    return { accountId: id, investorId };
  }

  deposit(accountId: string, asset: string, amount: bigint): void {
    this.totals.set(`${accountId}|${asset}`, (this.totals.get(`${accountId}|${asset}`) ?? 0n) + amount);
  }

  reserved(accountId: string, asset: string): bigint {
    let n = 0n;
    for (const r of this.reservations.values()) if (r.accountId === accountId && r.asset === asset) n += r.amount - r.released - r.consumed;
    return n;
  }

  available(accountId: string, asset: string): bigint {
    return (this.totals.get(`${accountId}|${asset}`) ?? 0n) - this.reserved(accountId, asset);
  }

  /** Issuance pauses or unpauses a token (its feed carries token.paused / token.unpaused). */
  pause(tokenId: string, paused: boolean): void {
    this.tokens.get(tokenId)!.paused = paused;
    this.feed.push({ seq: String(this.feed.length + 1), topic: paused ? 'token.paused' : 'token.unpaused', key: tokenId, payload: { tokenId, reason: 'corporate action' }, createdAt: new Date().toISOString() });
    const ws = [...this.feedWaiters];
    this.feedWaiters.clear();
    ws.forEach((w) => w());
  }

  /** Custody's answer to a reservation: the reservation and the balance after it. */
  private reserveReply(r: Reservation) {
    const total = this.totals.get(`${r.accountId}|${r.asset}`) ?? 0n;
    const reserved = this.reserved(r.accountId, r.asset);
    return {
      reservation: { reservationId: r.key, accountId: r.accountId, asset: r.asset, amount: String(r.amount), released: String(r.released), consumed: String(r.consumed), remaining: String(r.amount - r.released - r.consumed), status: 'OPEN', reason: 'order' },
      balance: { accountId: r.accountId, asset: r.asset, total: String(total), reserved: String(reserved), available: String(total - reserved) },
    };
  }

  private handle(method: string, b: RpcCall): unknown {
    const fail = (code: string, message: string, extra: object = {}) => { throw Object.assign(new Error(message), { code, extra }); };
    switch (method) {
      case 'token': return this.tokens.get(b.tokenId) ?? null;
      case 'account': return this.accounts.get(b.accountId) ?? null;
      case 'transferEligibility': {
        // As issuance answers trading's one-sided questions: the named party's rules decided, the other's not evaluated.
        const sender = b.fromInvestorId ?? null;
        const receiver = b.toInvestorId ?? null;
        if (b.kind !== 'SECONDARY_TRADE' || (sender === null) === (receiver === null)) fail('INPUT.INVALID_TRANSFER_KIND', 'trading asks about one party of a secondary trade');
        const [fails, decided, notEvaluated] = sender
          ? [this.senderFails.get(sender) ?? [], ['KYC_VALID_SENDER', 'RULE_144_HOLDING_PERIOD', 'FREE_BALANCE_SENDER'], ['KYC_VALID_RECEIVER', 'RECEIVER_NOT_LIQUIDATE_ONLY']]
          : [this.receiverFails.get(receiver!) ?? [], ['KYC_VALID_RECEIVER', 'RECEIVER_NOT_LIQUIDATE_ONLY'], ['KYC_VALID_SENDER', 'RULE_144_HOLDING_PERIOD', 'FREE_BALANCE_SENDER']];
        const results = [...decided.filter((c) => !fails.some((f) => f.code === c)).map((code) => ({ code, passed: true, message: 'ok' })), ...fails];
        return { allowed: false, results, notApplicable: [], missingParty: sender ? 'RECEIVER' : 'SENDER', notEvaluated, evaluatedAt: new Date().toISOString() };
      }
      case 'balance': {
        if (!this.accounts.has(b.accountId)) fail('CUSTODY.UNKNOWN_ACCOUNT', 'no account');
        const total = this.totals.get(`${b.accountId}|${b.asset}`) ?? 0n;
        const reserved = this.reserved(b.accountId, b.asset);
        return { accountId: b.accountId, asset: b.asset, total: String(total), reserved: String(reserved), available: String(total - reserved) };
      }
      case 'reserve': {
        // A reservation always names its amount and key.
        const key = b.idempotencyKey!;
        const amount = b.amount!;
        const prior = this.reservations.get(key);
        if (prior) {
          if (prior.amount !== BigInt(amount) || prior.accountId !== b.accountId) fail('INPUT.IDEMPOTENCY_KEY_REUSED', 'reused');
          return this.reserveReply(prior);
        }
        if (!this.accounts.has(b.accountId)) fail('CUSTODY.UNKNOWN_ACCOUNT', 'no account');
        const available = this.available(b.accountId, b.asset);
        if (available < BigInt(amount)) fail('CUSTODY.INSUFFICIENT_AVAILABLE', `available ${available} is less than ${amount}`, { available: String(available), requested: amount });
        const r = { key, accountId: b.accountId, asset: b.asset, amount: BigInt(amount), released: 0n, consumed: 0n };
        this.reservations.set(key, r);
        return this.reserveReply(r);
      }
      case 'release': {
        const r = this.reservations.get(b.reservationKey);
        if (!r) fail('CUSTODY.UNKNOWN_RESERVATION', 'no such reservation');
        const opKey = b.idempotencyKey ?? `release-all:${b.reservationKey}`;
        if (this.ops.has(opKey)) return {};
        const left = r!.amount - r!.released - r!.consumed;
        const amount = b.amount === undefined ? left : BigInt(b.amount);
        if (amount > left) fail('CUSTODY.EXCEEDS_RESERVATION', `release of ${amount} exceeds ${left}`);
        r!.released += amount;
        this.ops.set(opKey, 'RELEASE');
        return {};
      }
      default:
        throw Object.assign(new Error(`no route ${method}`), { code: undefined, status: 404 });
    }
  }
}

export interface TradingNode {
  sg: RunningSubgraph;
  url: string;
  wsUrl: string;
  stop(): Promise<void>;
}

export interface TradingHarness {
  peers: FakePeers;
  db: TestDatabase;
  node: TradingNode;
  secrets: { jwtSecret: string; serviceSecret: string };
  token(org: string, roles: Role[], investorId?: string): Promise<string>;
  /** Starts another trading process on the same database. */
  startNode(env?: Record<string, string>): Promise<TradingNode>;
  /** Stops the current node and starts a fresh one on the same database. */
  restart(env?: Record<string, string>): Promise<TradingNode>;
  stop(): Promise<void>;
}

/** A trading subgraph on a fresh database (PGlite in a folder, so it survives a restart; or PostgreSQL) with fake peers. */
export async function startTrading(env: Record<string, string> = {}): Promise<TradingHarness> {
  const peers = await new FakePeers().start();
  let dir: string | undefined;
  let db: TestDatabase;
  if (onPostgres()) db = await createTestDatabase();
  else {
    dir = mkdtempSync(join(tmpdir(), 'trading-test-'));
    db = { url: pathToFileURL(dir).href, drop: async () => rmSync(dir!, { recursive: true, force: true }) };
  }
  const secrets = { jwtSecret: randomBytes(32).toString('base64url'), serviceSecret: randomBytes(32).toString('base64url') };
  const nodes = new Set<TradingNode>();
  const startNode = async (extra: Record<string, string> = {}): Promise<TradingNode> => {
    const config = subgraphConfig(trading, {
      PORT: '0', DATABASE_URL: db.url, AUTH_JWT_SECRET: secrets.jwtSecret, SERVICE_SECRET: secrets.serviceSecret,
      ISSUANCE_URL: peers.url, CUSTODY_URL: peers.url, SETTLEMENT_URL: peers.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', TRADING_BOOK_POLL_MS: '100', FEED_POLL_MS: '100',
      TRADING_PEER_CACHE_MS: '0', TRADING_OPERATOR_ORGS: VENUE_ORG, ...env, ...extra,
    });
    const sg = await startSubgraph(trading, config);
    const node: TradingNode = {
      sg, url: sg.url, wsUrl: sg.url.replace(/^http/, 'ws'),
      async stop() {
        nodes.delete(node);
        await sg.stop();
      },
    };
    nodes.add(node);
    return node;
  };
  const h: TradingHarness = {
    peers, db, secrets, node: await startNode(),
    token: (org, roles, investorId) => signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-${roles.join('-').toLowerCase()}`, org, roles, investorId }),
    startNode,
    async restart(extra) {
      await h.node.stop();
      h.node = await startNode(extra);
      return h.node;
    },
    async stop() {
      for (const n of [...nodes]) await n.stop();
      await peers.stop();
      await db.drop();
    },
  };
  return h;
}

export const services = (n: TradingNode) => tradingServices(n.sg.runtime)!;

/** Waits until queued releases reached custody and every writer committed. */
export async function quiet(n: TradingNode): Promise<void> {
  const s = services(n);
  await s.venue.idle();
  for (let i = 0; i < 100 && (await s.releaser.pending()) > 0; i++) {
    await s.releaser.kick();
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function until<T>(what: string, f: () => Promise<T | undefined | null | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The parts of the answers these tests read (a test reads a part only where it expects it). */
export interface Rejection { code: string; message: string; regulation: string | null; blockingUntil: string | null }
export interface Order {
  id: string; status: string; side: string; type: string; timeInForce: string; price: string | null; protectionPrice: string | null;
  quantity: string; filled: string; remaining: string; cancelReason: string | null; clientOrderId: string; investorId: string | null;
  rejectReasons: { code: string }[];
}
/** placeOrder's and replaceOrder's answer. */
export interface OrderPayload { accepted: boolean; rejections: Rejection[]; order: Order }
export interface Trade {
  id: string; cursor: string; price: string; quantity: string; cashAmount: string; aggressorSide: string; buyOrderId: string; sellOrderId: string;
  buyAccountId: string | null; sellAccountId: string | null; buyerFee: string | null; sellerFee: string | null;
}
/** An event of the tradeExecuted subscription. */
export interface TradeExecution { cursor: string; trade: Trade }
export interface PriceLevel { price: string; quantity: string; orders: number }
export interface OrderBook { bids: PriceLevel[]; asks: PriceLevel[]; cursor: string }
export interface MarketStatus { halted: boolean; operatorHalt: boolean; haltReason: string | null; issuerPaused: boolean; lastPrice: string | null }
export interface AuditEntry { event: string; at: string; actor: string | null; detail: string }
export interface Subscriber { org: string; status: string; reason: string }

export const PLACE = `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) {
  accepted rejections { code message regulation blockingUntil }
  order { id status side type timeInForce price protectionPrice quantity filled remaining cancelReason clientOrderId investorId } } }`;

/** A trader of one organisation, with helpers that place and read through GraphQL. */
export class Trader {
  private n = 0;
  constructor(readonly h: TradingHarness, readonly token: string, readonly accountId: string, readonly tokenId: string) {}

  place(side: 'BUY' | 'SELL', quantity: string | number, price: string | number | null, extra: Record<string, unknown> = {}, node = this.h.node) {
    return gqlOk<{ placeOrder: OrderPayload }>(node.url, this.token, PLACE, {
      in: { tokenId: this.tokenId, accountId: this.accountId, side, quantity: String(quantity), ...(price === null ? { type: 'MARKET' } : { price: String(price) }), clientOrderId: `c-${this.accountId.slice(-6)}-${++this.n}-${randomBytes(3).toString('hex')}`, ...extra },
    }).then((d) => d.placeOrder);
  }

  cancel(orderId: string) {
    return gql<{ cancelOrder: Order }>(this.h.node.url, this.token, 'mutation($id: ID!) { cancelOrder(orderId: $id) { id status remaining filled cancelReason } }', { id: orderId });
  }
}

/** Custody's reservations equal what trading's open orders and unsettled fills hold, account by account. */
export async function expectedReserved(n: TradingNode, accountId: string, asset: string, tickValue = 1n): Promise<bigint> {
  const db = n.sg.db;
  const open = await db.query<{ side: string; remaining: string; price: string | null; protection_price: string | null; token_id: string }>(
    "SELECT side, remaining, price, protection_price, token_id FROM orders WHERE account_id = $1 AND status IN ('OPEN','PARTIALLY_FILLED')", [accountId]);
  let sum = 0n;
  for (const o of open) {
    if (o.side === 'BUY' && asset === 'CASH') sum += BigInt(o.remaining) * BigInt(o.price ?? o.protection_price ?? 0) * tickValue;
    if (o.side === 'SELL' && asset === o.token_id) sum += BigInt(o.remaining);
  }
  const bought = await db.query<{ s: string | null }>('SELECT sum(cash_amount) AS s FROM trades WHERE buy_account_id = $1', [accountId]);
  const sold = await db.query<{ s: string | null }>('SELECT sum(quantity) AS s FROM trades WHERE sell_account_id = $1 AND token_id = $2', [accountId, asset]);
  if (asset === 'CASH') sum += BigInt(bought[0].s ?? 0);
  else sum += BigInt(sold[0].s ?? 0);
  return sum;
}

/** A graphql-ws client on a node with a user token. */
export function wsClient(n: TradingNode, token: string): Client {
  return createClient({ url: n.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
}

/** Collects `count` events of a subscription, then unsubscribes. */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown>, count: number, ms = 15_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const got: T[] = [];
    const timer = setTimeout(() => { stop(); reject(new Error(`only ${got.length} of ${count} events arrived`)); }, ms);
    const stop = client.subscribe<T>({ query, variables }, {
      next: (v) => {
        if (v.errors) { clearTimeout(timer); stop(); reject(new Error(JSON.stringify(v.errors))); return; }
        got.push(v.data as T);
        if (got.length === count) { clearTimeout(timer); stop(); resolve(got); }
      },
      error: (e) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(JSON.stringify(e))); },
      complete: () => undefined,
    });
  });
}

/** Admitted organisation with funded accounts: one trader per account. */
export async function market(h: TradingHarness, o: { org?: string; accounts?: number; cash?: bigint; tokens?: bigint; tokenId?: string } = {}) {
  const org = o.org ?? 'broker-a';
  const tokenId = o.tokenId ?? h.peers.token();
  const operator = await h.token(VENUE_ORG, ['ATS_OPERATOR']);
  await gqlOk(h.node.url, operator, 'mutation($o: String!) { admitSubscriber(org: $o, reason: "due diligence done") { status } }', { o: org });
  const broker = await h.token(org, ['BROKER_DEALER']);
  const traders: Trader[] = [];
  for (let i = 0; i < (o.accounts ?? 2); i++) {
    const { accountId } = h.peers.account(org);
    h.peers.deposit(accountId, 'CASH', o.cash ?? 1_000_000n);
    h.peers.deposit(accountId, tokenId, o.tokens ?? 1_000n);
    traders.push(new Trader(h, broker, accountId, tokenId));
  }
  return { tokenId, operator, broker, traders, org };
}
