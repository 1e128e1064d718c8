import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { operationId, readManifest } from '../../gateway/persisted/manifest.js';
import { addPartnerKey, type PartnerEntry } from '../../gateway/persisted/partners.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { appendEvents } from '../../subgraphs/kit/outbox.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { until } from '../support/wait.js';

const manifest = readManifest(fromRoot('schema', 'persisted-operations.json'));
const idOf = (name: string) => manifest.operations.find((o) => o.name === name)!.id;
const bodyOf = (name: string) => manifest.operations.find((o) => o.name === name)!.body;

const PARTNERS: Omit<PartnerEntry, 'keys'>[] = [
  { name: 'acme-custody', org: 'acme', roles: ['CUSTODIAN'], mode: 'SAFELIST', operations: ['Positions', 'SettlementStatus'] },
  { name: 'globex-custody', org: 'globex', roles: ['CUSTODIAN'], mode: 'SAFELIST', operations: ['Positions'] },
  { name: 'acme-broker', org: 'acme', roles: ['BROKER_DEALER', 'CUSTODIAN'], mode: 'IDS_ONLY', operations: ['Positions', 'PlaceOrder'] },
  { name: 'acme-audit', org: 'acme', roles: ['AUDITOR'], mode: 'LOG_UNKNOWN', operations: ['CapTable'] },
];

/**
 * The gateway runs as its own process (`gateway/main.ts`, as in production)
 * over the test stack's subgraphs, with a partners file: its log lines are
 * read from its stdout.
 */

/** The fields the operations below read, each answer holding those of its operation. */
interface Answers {
  custodyAccounts: unknown[];
  placeOrder: { accepted: boolean; rejections: unknown[] };
  securityToken: { symbol: string };
}
describe(`persisted operations and partners through the gateway (${dbLabel()})`, () => {
  let stack: TestStack;
  let child: ChildProcess;
  let url: string;
  const logs: Record<string, unknown>[] = [];
  const keys: Record<string, string> = {};
  const dir = mkdtempSync(join(tmpdir(), 'partners-'));
  let tokenId: string, accountId: string;

  /** POST as a partner (x-api-key) or a bearer client. */
  async function post(who: { key?: string; bearer?: string }, body: Record<string, unknown>) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (who.key) headers['x-api-key'] = who.key;
    if (who.bearer) headers.authorization = `Bearer ${who.bearer}`;
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { data?: Answers; errors?: { message: string; extensions?: Record<string, unknown> }[] } };
  }
  const byId = (id: string, variables?: Record<string, unknown>) => ({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: id } } });
  const codeOf = (r: Awaited<ReturnType<typeof post>>) => r.body.errors?.[0]?.extensions?.code;

  beforeAll(async () => {
    stack = await startTestStack();
    const issuer = await stack.token('acme', ['ISSUER_AGENT']);
    tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(stack.gateway.url, issuer, 'mutation { createSecurityToken(input: { idempotencyKey: "t1", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }')).createSecurityToken.id;
    const investorId = (await gqlOk<{ registerInvestor: { id: string } }>(stack.gateway.url, issuer, 'mutation { registerInvestor(input: { idempotencyKey: "i1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }')).registerInvestor.id;
    accountId = (await gqlOk<{ openCustodyAccount: { id: string } }>(stack.gateway.url, await stack.token('acme', ['CUSTODIAN']), 'mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "a1", investorId: $i, kind: SEGREGATED }) { id } }', { i: investorId })).openCustodyAccount.id;

    const partnersFile = join(dir, 'partners.json');
    for (const p of PARTNERS) keys[p.name] = addPartnerKey(partnersFile, manifest, p).key;
    child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
      cwd: fromRoot(),
      env: {
        PATH: process.env.PATH!, PORT: '0', LOG_LEVEL: 'info', AUTH_JWT_SECRET: stack.secrets.jwtSecret, GATEWAY_PARTNERS_PATH: partnersFile,
        ISSUANCE_URL: stack.subgraphs.issuance.url, TRADING_URL: stack.subgraphs.trading.url,
        SETTLEMENT_URL: stack.subgraphs.settlement.url, CUSTODY_URL: stack.subgraphs.custody.url,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    url = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      child.stdout!.on('data', (d: Buffer) => {
        buffer += d.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) {
          const m = /^gateway at (\S+)/.exec(line);
          if (m) resolve(m[1]);
          else if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
        }
      });
      child.once('exit', (code) => reject(new Error(`gateway exited (${code}): ${stderr}`)));
    });
  }, 180_000);

  afterAll(async () => {
    if (child?.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the query plans of every persisted operation are prepared when the gateway starts', async () => {
    // The gateway's logger writes asynchronously, its "gateway at" line synchronously: the log line may come after it.
    const prepared = await until('the plans-prepared log line', () => logs.find((l) => l.msg === 'query plans of persisted operations prepared'));
    expect(prepared).toMatchObject({ prepared: manifest.operations.length });
    expect(logs.some((l) => l.msg === 'persisted operations without a query plan')).toBe(false);
  });

  test('a partner runs an operation of its list by id alone, as its own organisation', async () => {
    const acme = await post({ key: keys['acme-custody'] }, byId(idOf('Positions')));
    expect(acme.status).toBe(200);
    expect(acme.body.data!.custodyAccounts).toEqual([expect.objectContaining({ id: accountId, kind: 'SEGREGATED', investor: expect.objectContaining({ legalName: 'Jane Doe' }) })]);
    // The same operation for another organisation's partner: its own (empty) books, nothing of acme's.
    const globex = await post({ key: keys['globex-custody'] }, byId(idOf('Positions')));
    expect(globex.body).toEqual({ data: { custodyAccounts: [] } });
  });

  test('a partner may send a persisted id with GET and the CSRF preflight header', async () => {
    const ext = encodeURIComponent(JSON.stringify(byId(idOf('Positions')).extensions));
    const r = await fetch(`${url}?extensions=${ext}`, { headers: { 'x-api-key': keys['acme-custody'], 'apollo-require-preflight': 'true' } });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { data: { custodyAccounts: unknown[] } }).data.custodyAccounts).toHaveLength(1);
  });

  test('a safelisted partner may send the text of an operation of its list (layout and comments aside) and nothing else', async () => {
    const key = keys['acme-custody'];
    const relaid = `# our positions\n${bodyOf('Positions').replace(/\s+/g, ' ')}`;
    expect((await post({ key }, { query: relaid })).body.data!.custodyAccounts).toHaveLength(1);
    const refusals = [
      await post({ key }, { query: '{ custodyAccounts { id walletAddress } }' }), // free text
      await post({ key }, byId(idOf('CapTable'), { tokenId })), // persisted, but not in this partner's list
      await post({ key }, { query: '{ investors { id } }', ...byId(operationId('{ investors { id } }')) }), // APQ registration
    ];
    for (const r of refusals) {
      expect(r.status).toBe(400);
      expect(codeOf(r)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    }
  });

  test('a partner in ids-only mode must send an id, even for an operation of its list, and its mutations run as its organisation', async () => {
    const key = keys['acme-broker'];
    const text = await post({ key }, { query: bodyOf('Positions') });
    expect(text.status).toBe(400);
    expect(codeOf(text)).toBe('PERSISTED_QUERY_ID_REQUIRED');
    const placed = await post({ key }, byId(idOf('PlaceOrder'), { input: { tokenId, accountId, side: 'BUY', price: '10', quantity: '1', clientOrderId: 'p-1' } }));
    expect(placed.status).toBe(200);
    expect(placed.body.data!.placeOrder.accepted).toBe(false);
    expect(placed.body.data!.placeOrder.rejections).toEqual(expect.arrayContaining([
      expect.objectContaining({ code: 'TRADING.SUBSCRIBER_NOT_ADMITTED', message: expect.stringContaining('organisation acme') }),
    ]));
  });

  test('a partner in log-unknown mode runs an operation outside its list, and the gateway logs it; listed ones are not logged', async () => {
    const key = keys['acme-audit'];
    expect((await post({ key }, byId(idOf('CapTable'), { tokenId }))).body.data!.securityToken.symbol).toBe('ACMEP');
    const other = '{ settlements { id status } }';
    expect(await post({ key }, { query: other })).toEqual({ status: 200, body: { data: { settlements: [] } } });
    const unlisted = () => logs.filter((l) => l.msg === 'operation not in the client\'s persisted list');
    // The log line crosses a pipe in order: once it is here, a line about the listed operation before it would be too.
    const logged = await until('the unlisted-operation log line', () => unlisted().length && unlisted());
    expect(logged).toEqual([expect.objectContaining({ partner: 'acme-audit', org: 'acme', id: operationId(other), operation: other })]);
  });

  test('a request with an API key that is not registered is refused with 401', async () => {
    const r = await post({ key: 'tsp_not-a-key' }, byId(idOf('Positions')));
    expect(r.status).toBe(401);
    expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'BAD_API_KEY' });
  });

  test('bearer-token clients get automatic persisted queries, and may use the ids of the manifest', async () => {
    const bearer = await stack.token('acme', ['CUSTODIAN']);
    const query = '{ custodyAccounts { id } }';
    const hashOnly = byId(operationId(query));
    const miss = await post({ bearer }, hashOnly);
    expect(codeOf(miss)).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect((await post({ bearer }, { query, ...hashOnly })).body).toEqual({ data: { custodyAccounts: [{ id: accountId }] } });
    expect((await post({ bearer }, hashOnly)).body).toEqual({ data: { custodyAccounts: [{ id: accountId }] } });
    expect((await post({ bearer }, byId(idOf('Positions')))).body.data!.custodyAccounts).toHaveLength(1);
  });

  test('a partner authenticates over graphql-ws with its API key in connection_init; its mode and list apply to each subscription', async () => {
    const book = newId('tok');
    const BOOK = 'subscription($t: ID!) { orderBookChanged(tokenId: $t) { tokenId changes { side price quantity } } }';
    /** One subscription as a partner: the first event or the error, or the close when the key is refused. */
    const subscribe = (key: string, query: string, extensions?: Record<string, unknown>) => {
      let closed: { code: number; reason: string } | undefined;
      const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { 'x-api-key': key },
        on: { closed: (e) => { closed = { code: (e as { code: number }).code, reason: String((e as { reason: string }).reason) }; } } });
      const result = new Promise<{ data?: unknown; errors?: { extensions?: { code?: string } }[]; closed?: typeof closed }>((resolve) => {
        client.subscribe({ query, variables: { t: book }, extensions }, {
          next: (v) => resolve(v as { data?: unknown }), complete: () => undefined,
          error: (e) => resolve(Array.isArray(e) ? { errors: e } : { closed }),
        });
      });
      return { client, result };
    };
    const trading = stack.subgraphs.trading;
    const following = trading.runtime.outbox.following;
    const audit = subscribe(keys['acme-audit'], BOOK); // LOG_UNKNOWN: runs what is not in its list
    try {
      for (const end = Date.now() + 30_000; trading.runtime.outbox.following <= following;) {
        if (Date.now() > end) throw new Error('the partner\'s subscription did not reach trading');
        await new Promise((r) => setTimeout(r, 50));
      }
      await trading.db.tx((q) => appendEvents(q, [{ topic: 'book.changed', key: book, payload: { tokenId: book, bookSeq: 1, levels: [{ side: 'BUY', price: '10', quantity: '5', orders: 1 }] } }]));
      expect(await audit.result).toEqual({ data: { orderBookChanged: { tokenId: book, changes: [{ side: 'BUY', price: '10', quantity: '5' }] } } });
    } finally {
      await audit.client.dispose();
    }
    const refusals: [string, string, Record<string, unknown> | undefined, string][] = [
      ['acme-custody', BOOK, undefined, 'PERSISTED_QUERY_NOT_IN_LIST'], // SAFELIST: not in its list
      ['acme-broker', BOOK, undefined, 'PERSISTED_QUERY_ID_REQUIRED'], // IDS_ONLY: text
      ['acme-broker', '', { persistedQuery: { version: 1, sha256Hash: operationId(BOOK) } }, 'PERSISTED_QUERY_NOT_IN_LIST'], // IDS_ONLY: an id not in its list
    ];
    for (const [partner, query, extensions, code] of refusals) {
      const s = subscribe(keys[partner], query, extensions);
      try {
        expect((await s.result).errors?.[0]?.extensions?.code).toBe(code);
      } finally {
        await s.client.dispose();
      }
    }
    const bad = subscribe('tsp_not-a-key', BOOK);
    try {
      expect((await bad.result).closed).toEqual({ code: 4403, reason: expect.stringContaining('UNAUTHENTICATED BAD_API_KEY') });
    } finally {
      await bad.client.dispose();
    }
  }, 60_000);
});
