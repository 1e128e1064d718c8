/**
 * What tracing costs a request when OTEL_EXPORTER_OTLP_ENDPOINT is unset
 * (only @opentelemetry/api loaded), and when it is on. Runs, in one process,
 * the tracing hooks a placeOrder passes through, counted generously per
 * process it crosses (a server route, the GraphQL plugin, two internal calls,
 * two subgraph fetches' headers, two outbox appends, one consumed event, four
 * log lines), against a peer measured in the same run: one HTTP round trip
 * on loopback (a placeOrder makes at least four: client to gateway, gateway
 * to trading, trading to issuance and to custody). Alternates off/peer/on
 * rounds and prints medians. The hooks' cost is the same work timed with
 * them minus without them (plain calls), plus four calls of the log mixin.
 *
 *   npx tsx bench/tracing-cost.ts [--rounds 5] [--iterations 20000]
 */
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { startHttpServer } from '../subgraphs/kit/http.js';
import { createLogger } from '../subgraphs/kit/log.js';
import {
  consumeTraced, currentTraceparent, installTracing, logTraceFields, traceHeaders, tracedCall, tracedRoute, tracerOf, tracingPlugin, uninstallTracing,
} from '../subgraphs/kit/tracing.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = Number(i >= 0 ? process.argv[i + 1] : def);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const ROUNDS = arg('rounds', 5);
const ITERATIONS = arg('iterations', 20_000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const sink = () => new Writable({ write(_c, _e, done) { done(); } });
const req = { method: 'POST', headers: { 'content-type': 'application/json' } } as never;
const res = { statusCode: 200 } as never;

/** One request's worth of tracing hooks, as a process sees them; µs per request. */
async function hooked(): Promise<number> {
  const tracer = tracerOf('bench');
  const log = createLogger('bench', 'info', sink());
  const plugin = tracingPlugin();
  const route = tracedRoute(tracer, '/graphql', async () => {
    const listener = await plugin.requestDidStart!({} as never);
    await listener?.didResolveOperation?.({ operationName: 'PlaceOrder', operation: { operation: 'mutation' } } as never);
    for (let i = 0; i < 2; i++) await tracedCall(tracer, 'custody reserveMany', { 'rpc.method': 'reserveMany' }, async (h) => h);
    for (let i = 0; i < 2; i++) traceHeaders();
    for (let i = 0; i < 2; i++) currentTraceparent();
    await consumeTraced(tracer, { seq: '1', topic: 'trade.executed', traceparent: currentTraceparent() }, async () => undefined);
    for (let i = 0; i < 4; i++) log.info({ orderId: 'ord_1' }, 'order placed');
  });
  return timed(() => route(req, res));
}

/** The same work without any tracing hook (the mixin's own cost is timed apart, in mixinMicros); µs per request. */
async function bare(): Promise<number> {
  const log = createLogger('bench', 'info', sink());
  const route = async (_q: unknown, _r: unknown) => {
    for (let i = 0; i < 2; i++) await (async (h: Record<string, string>) => h)({});
    await (async () => undefined)();
    for (let i = 0; i < 4; i++) log.info({ orderId: 'ord_1' }, 'order placed');
  };
  return timed(() => route(req, res));
}

/** One call of the log mixin, which pino makes for every line; µs. */
function mixinMicros(): number {
  const n = 1_000_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) logTraceFields();
  return ((performance.now() - t0) * 1000) / n;
}

async function timed(request: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < ITERATIONS; i++) await request();
  return ((performance.now() - t0) * 1000) / ITERATIONS;
}

/** One HTTP round trip on loopback with a small JSON body; µs. */
async function roundTrip(url: string): Promise<number> {
  const n = Math.max(200, Math.floor(ITERATIONS / 50));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ x }"}' })).text();
  return ((performance.now() - t0) * 1000) / n;
}

const server = await startHttpServer({ port: 0, routes: { 'POST /rt': (_q, r) => { r.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"x":1}}'); } } });
const off: number[] = [], on: number[] = [], peer: number[] = [];
try {
  await hooked(); // warm up
  await bare();
  for (let r = 0; r < ROUNDS; r++) {
    // The hooks' own cost: the same work with them minus without them, back to back.
    const base = await bare();
    off.push(await hooked() - base + 4 * mixinMicros());
    peer.push(await roundTrip(`${server.url}/rt`));
    const exporter = new InMemorySpanExporter();
    await installTracing({ exporter });
    on.push(await hooked() - base + 4 * mixinMicros());
    exporter.reset();
    await uninstallTracing();
  }
} finally {
  await server.close();
}
const [o, p, t] = [median(off), median(peer), median(on)];
console.log(`tracing hooks of one request, per process (medians of ${ROUNDS} rounds, ${ITERATIONS} requests each):`);
console.log(`  off (no SDK): ${o.toFixed(2)} µs more than the same work without hooks = ${(o / p).toFixed(4)}x one loopback HTTP round trip (${p.toFixed(1)} µs); a placeOrder makes at least 4`);
console.log(`  on (in-memory exporter): ${t.toFixed(2)} µs more = ${(t / p).toFixed(3)}x one round trip`);
console.log(`  load average: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
