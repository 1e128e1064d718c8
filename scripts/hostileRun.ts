import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { apiSchemaOf } from '../gateway/persisted/build.js';
import { serviceToken, signUserToken } from '../subgraphs/kit/auth.js';
import { fromRoot } from '../subgraphs/kit/paths.js';
import { CloseCode, WS_INTERNAL_ERROR } from '../gateway/subscriptions/close-codes.js';
import { SUBGRAPH_NAMES, type Stack } from './stack.js';
import type { StackSecrets } from './stack.js';
import { HostileGenerator, type Auth, type HostileRequest, type Schemas } from './hostileInputs.js';
import WebSocket from 'ws';

/** What a run saw: answers by status and code, and every answer that breaks the rules (5xx, an error without a code, a crash close). */
export interface HostileFigures {
  seed: number;
  requests: number;
  http: number;
  ws: number;
  statuses: Record<string, number>;
  codes: Record<string, number>;
  violations: { index: number; label: string; problem: string; request: string }[];
  ms: number;
}

export async function loadSchemas(): Promise<Schemas> {
  const api = await apiSchemaOf(readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8'));
  const subgraphs: Schemas['subgraphs'] = {};
  for (const name of SUBGRAPH_NAMES) subgraphs[name] = buildSubgraphSchema({ typeDefs: parse(readFileSync(fromRoot('schema', `${name}.graphql`), 'utf8')) });
  return { api, subgraphs };
}

const summary = (r: HostileRequest) => JSON.stringify(r.kind === 'ws' ? r.payload : { target: r.target, method: r.method, body: r.body?.slice(0, 300), search: r.search?.slice(0, 300) }).slice(0, 400);

export async function runHostile(stack: Stack, secrets: StackSecrets, o: { seed: number; count: number; concurrency: number; progress?: (done: number) => void }): Promise<HostileFigures> {
  const gen = new HostileGenerator(o.seed, await loadSchemas());
  const f: HostileFigures = { seed: o.seed, requests: 0, http: 0, ws: 0, statuses: {}, codes: {}, violations: [], ms: 0 };
  const count = (m: Record<string, number>, k: string) => { m[k] = (m[k] ?? 0) + 1; };
  const tokens = new Map<string, Promise<string>>();
  const sign = (a: Extract<Auth, { kind: 'user' }>) => {
    const key = JSON.stringify(a);
    if (!tokens.has(key)) tokens.set(key, signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, a));
    return tokens.get(key)!;
  };
  const headersOf = async (a: Auth): Promise<Record<string, string>> => {
    switch (a.kind) {
      case 'user': return { authorization: `Bearer ${await sign(a)}` };
      case 'service': return { authorization: `Bearer ${await serviceToken({ serviceSecret: secrets.serviceSecret, issuer: 'tokenstack' }, 'hostile')}` };
      case 'garbage': return { authorization: a.header };
      case 'apiKey': return { 'x-api-key': a.key.replace(/\u0000/g, '') }; // a header cannot carry NUL
      default: return {};
    }
  };
  const checkErrors = (i: number, r: HostileRequest, errors: unknown) => {
    if (!Array.isArray(errors)) return;
    for (const e of errors as { extensions?: { code?: unknown } }[]) {
      const code = e?.extensions?.code;
      if (typeof code !== 'string' || !code) f.violations.push({ index: i, label: r.label, problem: `error without extensions.code: ${JSON.stringify(e).slice(0, 300)}`, request: summary(r) });
      else {
        count(f.codes, code);
        if (code === 'INTERNAL_SERVER_ERROR') f.violations.push({ index: i, label: r.label, problem: `INTERNAL_SERVER_ERROR: ${JSON.stringify(e).slice(0, 300)}`, request: summary(r) });
      }
    }
  };

  async function http(i: number, r: Extract<HostileRequest, { kind: 'http' }>) {
    f.http++;
    const base = r.target === 'gateway' ? stack.gateway.url : stack.subgraphs[r.target].url;
    const res = await fetch(`${base}${r.search ? `?${r.search}` : ''}`, {
      method: r.method,
      headers: { ...(r.contentType !== undefined ? { 'content-type': r.contentType } : {}), ...(await headersOf(r.auth)), ...r.headers },
      body: r.method === 'POST' ? r.body : undefined,
    });
    count(f.statuses, String(res.status));
    const text = await res.text();
    if (res.status >= 500) f.violations.push({ index: i, label: r.label, problem: `HTTP ${res.status}: ${text.slice(0, 300)}`, request: summary(r) });
    let body: { errors?: unknown } | undefined;
    try {
      body = JSON.parse(text) as { errors?: unknown };
    } catch {
      f.violations.push({ index: i, label: r.label, problem: `HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, request: summary(r) });
      return;
    }
    if (res.status >= 400 && !Array.isArray(body?.errors) && !(body as { error?: { code?: string } }).error?.code) {
      f.violations.push({ index: i, label: r.label, problem: `HTTP ${res.status} without errors: ${text.slice(0, 200)}`, request: summary(r) });
    }
    checkErrors(i, r, body?.errors);
  }

  async function ws(i: number, r: Extract<HostileRequest, { kind: 'ws' }>) {
    f.ws++;
    const auth = r.auth.kind === 'user' ? { ...r.auth, subject: `hostile-ws-${i}` } : r.auth;
    const { authorization } = await headersOf(auth);
    // Accepted (open, waiting for events) or answered: whichever comes first.
    const opened = auth.kind === 'user' ? () => stack.gateway.subscriptions.openFor(auth) > 0 : () => false;
    const o = await subscribeOnce(stack.gateway.url.replace(/^http/, 'ws'), authorization, r.payload, opened);
    count(f.statuses, `ws ${o.outcome}`);
    if (o.errors !== undefined) checkErrors(i, r, o.errors);
    if (o.closeCode !== undefined && (o.closeCode === WS_INTERNAL_ERROR || o.closeCode >= CloseCode.InternalServerError)) f.violations.push({ index: i, label: r.label, problem: `socket closed ${o.closeCode} ${o.reason ?? ''}`, request: summary(r) });
  }

  const started = Date.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.count) return;
      const r = gen.next(); // generated in order: the same seed gives the same sequence whatever the concurrency
      f.requests++;
      try {
        if (r.kind === 'http') await http(i, r);
        else await ws(i, r);
      } catch (e) {
        f.violations.push({ index: i, label: r.label, problem: `client failure: ${(e as Error).message}`, request: summary(r) });
      }
      o.progress?.(f.requests);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  f.ms = Date.now() - started;
  return f;
}

/** A normal query and the gateway's health, after the run. */
export async function stackHealthy(stack: Stack, secrets: StackSecrets): Promise<{ query: number; healthz: number }> {
  const token = await signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 'after', org: 'acme', roles: ['ISSUER_AGENT'] });
  const q = await fetch(stack.gateway.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: '{ securityTokens { id } }' }) });
  const body = (await q.json()) as { errors?: unknown };
  const h = await fetch(stack.gateway.url.replace(/\/graphql$/, '/healthz'));
  return { query: q.ok && !body.errors ? q.status : -q.status, healthz: h.status };
}

/** One graphql-transport-ws subscribe on its own connection, spoken directly (no client retries or lazy close to account for). */
function subscribeOnce(url: string, authorization: string | undefined, payload: unknown, opened: () => boolean): Promise<{ outcome: string; errors?: unknown; closeCode?: number; reason?: string }> {
  return new Promise((resolve) => {
    const sock = new WebSocket(url, 'graphql-transport-ws');
    let subscribed = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (o: { outcome: string; errors?: unknown; closeCode?: number; reason?: string }) => {
      clearInterval(timer);
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.terminate();
      resolve(o);
    };
    sock.on('open', () => sock.send(JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : {} })));
    sock.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string; payload?: { errors?: unknown } | unknown[] };
      if (m.type === 'connection_ack') {
        sock.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
        subscribed = true;
        timer = setInterval(() => { if (opened()) finish({ outcome: 'open' }); }, 10);
      } else if (m.type === 'next') finish({ outcome: 'next', errors: (m.payload as { errors?: unknown })?.errors });
      else if (m.type === 'error') finish({ outcome: 'errors', errors: m.payload });
      else if (m.type === 'complete') finish({ outcome: 'complete' });
      else if (m.type === 'ping') sock.send(JSON.stringify({ type: 'pong' }));
    });
    sock.on('close', (code, reason) => finish({ outcome: `closed ${code}${subscribed ? '' : ' before subscribing'}`, closeCode: code, reason: String(reason) }));
    sock.on('error', (e) => finish({ outcome: `socket error ${e.message}` }));
  });
}
