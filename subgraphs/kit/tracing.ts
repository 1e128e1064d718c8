/**
 * OpenTelemetry traces: one trace from a client's request through the
 * gateway, each subgraph fetch, the internal calls between subgraphs and the
 * outbox events that carry the work on (the event stores the W3C traceparent
 * of the span that wrote it; the consumer's span is its child).
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test installs its own
 * exporter): only @opentelemetry/api is loaded, every helper here checks one
 * flag and calls straight through, no header is written and nothing is
 * stored with an event. installTracing loads the SDK on demand.
 *
 * Several services may share a process (npm start, the tests): each gets its
 * own tracer provider, so that its spans carry its own service.name. Apollo
 * Gateway's own spans (gateway.request, .plan, .fetch) go to the global
 * provider, which is the gateway's.
 *
 * Only W3C trace context is propagated: no baggage, so nothing a client sends
 * reaches a span's attributes or any decision. The public edge does not
 * continue a client's trace: it starts its own and links to the client's.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  ROOT_CONTEXT, SpanKind, SpanStatusCode, context, isSpanContextValid, propagation, trace,
  type Attributes, type Context, type Link, type Span, type TextMapGetter, type Tracer,
} from '@opentelemetry/api';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { atBase } from './http-client.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

export type { Tracer };

let tracerFor: ((service: string) => Tracer) | undefined;
let teardown: (() => Promise<void>) | undefined;
let flush: (() => Promise<void>) | undefined;

/** Whether spans are recorded in this process. */
export const tracingOn = (): boolean => tracerFor !== undefined;

/** The tracer of a service (a no-op one while tracing is off). */
export function tracerOf(service: string): Tracer {
  return tracerFor ? tracerFor(service) : trace.getTracer('tokenstack');
}

export interface TracingOptions {
  /** OTLP/HTTP base URL (spans go to <endpoint>/v1/traces). */
  endpoint?: string;
  /** Share of new traces recorded, 0..100 (a trace continued from a peer follows the peer's decision). */
  samplePercent?: number;
  /** Instead of OTLP (tests: InMemorySpanExporter); spans are handed over as they end. */
  exporter?: SpanExporter;
}

/** Loads the SDK and starts recording (once per process; later calls do nothing). */
export async function installTracing(o: TracingOptions): Promise<void> {
  if (tracerFor || (!o.endpoint && !o.exporter)) return;
  const [sdk, { resourceFromAttributes }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { ATTR_SERVICE_NAME }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'), import('@opentelemetry/resources'), import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'), import('@opentelemetry/semantic-conventions'),
  ]);
  if (tracerFor) return; // another service of this process installed it meanwhile
  const exporter = o.exporter ?? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter({ url: atBase(o.endpoint!, '/v1/traces') });
  // One queue for the process, shared by every service's provider.
  const processor = o.exporter ? new sdk.SimpleSpanProcessor(exporter) : new sdk.BatchSpanProcessor(exporter);
  const sampler = new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler((o.samplePercent ?? 100) / 100) });
  const providers = new Map<string, InstanceType<typeof sdk.BasicTracerProvider>>();
  const providerOf = (service: string) => {
    let p = providers.get(service);
    if (!p) providers.set(service, (p = new sdk.BasicTracerProvider({ resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service, 'service.namespace': 'tokenstack' }), sampler, spanProcessors: [processor] })));
    return p;
  };
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(providerOf('gateway'));
  tracerFor = (service) => providerOf(service).getTracer('tokenstack');
  flush = () => processor.forceFlush();
  teardown = async () => {
    await processor.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  };
}

/** Stops recording and unregisters the SDK (tests). */
export async function uninstallTracing(): Promise<void> {
  const t = teardown;
  tracerFor = teardown = flush = undefined;
  await t?.();
}

/** Sends the spans still queued (a process that stops). */
export async function flushTracing(): Promise<void> {
  await flush?.();
}

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (h) => Object.keys(h),
  get: (h, k) => h[k],
};

/**
 * Serves a request inside a SERVER span. A peer's traceparent is the span's
 * parent; at the public edge (`edge`) a client's is only a link. A malformed
 * traceparent is ignored by the propagator: a new trace starts. Install
 * tracing before the routes are made.
 */
export function tracedRoute<A extends unknown[]>(
  tracer: Tracer, name: string, handler: (req: IncomingMessage, res: ServerResponse, ...rest: A) => Promise<void>, o: { edge?: boolean } = {},
): (req: IncomingMessage, res: ServerResponse, ...rest: A) => Promise<void> {
  if (!tracerFor) return handler; // off: the route itself, nothing in between
  return async (req, res, ...rest) => {
    const remote = propagation.extract(ROOT_CONTEXT, req.headers, headerGetter);
    const remoteSpan = trace.getSpanContext(remote);
    const links: Link[] = o.edge && remoteSpan && isSpanContextValid(remoteSpan) ? [{ context: remoteSpan }] : [];
    const attributes = { 'http.request.method': req.method ?? 'GET', 'url.path': name };
    return inSpan(tracer, `${req.method} ${name}`, { kind: SpanKind.SERVER, attributes, links }, o.edge ? ROOT_CONTEXT : remote, async (span) => {
      await handler(req, res, ...rest);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    });
  };
}

/** A call to another service inside a CLIENT span; `send` gets the headers that carry the trace on. */
export function tracedCall<T>(tracer: Tracer | undefined, name: string, attributes: Attributes, send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
  if (!tracerFor || !tracer) return send({});
  return inSpan(tracer, name, { kind: SpanKind.CLIENT, attributes }, context.active(), () => send(traceHeaders()));
}

/** The W3C headers of the current span (none while tracing is off). */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  if (tracerFor) propagation.inject(context.active(), carrier);
  return carrier;
}

/** The traceparent stored with an outbox event written now (null while tracing is off or outside a span). */
export function currentTraceparent(): string | null {
  return tracerFor ? traceHeaders().traceparent ?? null : null;
}

/** Handles an outbox event inside a CONSUMER span, a child of the span that wrote the event. */
export function consumeTraced<T>(tracer: Tracer, event: { seq: string; topic: string; traceparent?: string | null }, handle: () => Promise<T>): Promise<T> {
  const attributes = { 'messaging.system': 'tokenstack.outbox', 'messaging.operation.type': 'process', 'messaging.destination.name': event.topic, 'messaging.message.id': event.seq };
  return continueTrace(tracer, `process ${event.topic}`, attributes, event.traceparent, handle, SpanKind.CONSUMER);
}

/** Background work on something that stored the traceparent it came with (a settlement): a span of that trace, a new one without it. */
export function continueTrace<T>(tracer: Tracer, name: string, attributes: Attributes, traceparent: string | null | undefined, run: () => Promise<T>, kind = SpanKind.INTERNAL): Promise<T> {
  if (!tracerFor) return run();
  const parent = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }, headerGetter) : ROOT_CONTEXT;
  return inSpan(tracer, name, { kind, attributes }, parent, run);
}

function inSpan<T>(tracer: Tracer, name: string, options: { kind: SpanKind; attributes?: Attributes; links?: Link[] }, parent: Context, run: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, options, parent, async (span) => {
    try {
      return await run(span);
    } catch (e) {
      const code = (e as { extensions?: { code?: unknown } }).extensions?.code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : (e as Error).message });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** Names the request's span after its GraphQL operation and records the error codes it answered with. */
export function tracingPlugin<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    requestDidStart: async () => {
      const span = tracerFor ? trace.getActiveSpan() : undefined;
      if (!span) return {};
      return {
        didResolveOperation: async ({ operationName, operation }) => {
          const type = operation?.operation ?? 'unknown';
          span.updateName(`${type} ${operationName ?? '(anonymous)'}`);
          span.setAttributes({ 'graphql.operation.type': type, 'graphql.operation.name': operationName ?? '' });
        },
        didEncounterErrors: async ({ errors }) => {
          span.setAttribute('graphql.error.codes', [...new Set(errors.map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')))]);
        },
      };
    },
  };
}

/** trace_id and span_id of the current span, for every log line written inside one (pino's mixin). */
export function logTraceFields(): Record<string, string> {
  if (!tracerFor) return {};
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}
