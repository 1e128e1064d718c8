import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext, type HTTPGraphQLResponse } from '@apollo/server';
import { NUL_CHARACTER, NUL_MESSAGE, containsNul } from './nul.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

export interface HttpServerOptions {
  port: number;
  host?: string;
  /** Keys are "METHOD /path". */
  routes: Record<string, RouteHandler>;
  /** Handles /graphql (GET and POST). */
  graphql?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
  log?: { error(o: object, msg: string): void };
}

export interface RunningServer {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body));
}

/** An answer already serialised. */
export function sendJsonText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export class BodyTooLarge extends Error {}

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new BodyTooLarge(`request body over ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > maxBytes) throw new BodyTooLarge(`request body over ${maxBytes} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startHttpServer(o: HttpServerOptions): Promise<RunningServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = o.routes[`${req.method} ${url.pathname}`];
    const handler = route ?? (url.pathname === '/graphql' && o.graphql ? o.graphql : undefined);
    if (!handler) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` } });
    Promise.resolve(handler(req, res, url)).catch((e: unknown) => {
      o.log?.error({ err: (e as Error).message, path: url.pathname }, 'request failed');
      sendJson(res, 500, { errors: [{ message: 'internal error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${o.host && o.host !== '0.0.0.0' ? o.host : '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Serves an ApolloServer on our own node:http server (Apollo 5 ships no
 * framework integration): parse the body with a size limit, hand Apollo the
 * request, stream its answer back.
 */
export function apolloHandler<C extends BaseContext>(
  apollo: ApolloServer<C>,
  context: (req: IncomingMessage) => Promise<C>,
  maxBodyBytes: number,
) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    let body: unknown;
    if (req.method === 'POST') {
      let text: string;
      try {
        text = await readBody(req, maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge) return sendJson(res, 413, { errors: [{ message: e.message, extensions: { code: 'REQUEST_TOO_LARGE' } }] });
        throw e;
      }
      const type = String(req.headers['content-type'] ?? '');
      if (/json/i.test(type)) {
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          return sendJson(res, 400, { errors: [{ message: 'the request body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
        }
      } else {
        body = text;
      }
    }
    // Variables (and any other field) holding U+0000 never reach a resolver; string literals are refused in validation.
    if (containsNul(body) || containsNul(searchValues(url))) {
      return sendJson(res, 400, { errors: [{ message: NUL_MESSAGE, extensions: { code: NUL_CHARACTER } }] });
    }
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    }
    const answer = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
      context: () => context(req),
    });
    await writeApolloResponse(res, answer);
  };
}

/** A GET's parameters, with variables and extensions read as the JSON they carry (unreadable JSON: Apollo refuses it). */
function searchValues(url: URL): unknown[] {
  return [...url.searchParams.entries()].map(([k, v]) => {
    if (k !== 'variables' && k !== 'extensions') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  });
}

async function writeApolloResponse(res: ServerResponse, a: HTTPGraphQLResponse): Promise<void> {
  for (const [k, v] of a.headers) res.setHeader(k, v);
  res.statusCode = a.status ?? 200;
  if (a.body.kind === 'complete') {
    res.end(a.body.string);
    return;
  }
  for await (const chunk of a.body.asyncIterator) res.write(chunk);
  res.end();
}
