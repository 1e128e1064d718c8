import { parse, print } from 'graphql';
import { appError } from '../../subgraphs/kit/errors.js';
import { operationId, type Manifest, type PersistedOperation } from './manifest.js';
import type { Mode } from './partners.js';

/** What one client may run: its mode and its list (manifest ids). */
export interface ClientPolicy {
  mode: Mode;
  allowed: ReadonlySet<string>;
}

/**
 * run with `operation`: execute the manifest's operation (its body replaces
 * whatever the client sent, so documents and plans are shared and cached);
 * run without: hand the request to Apollo as it is (APQ, free text);
 * refuse: end the request with that error.
 */
export type Decision =
  | { kind: 'run'; operation?: PersistedOperation }
  | { kind: 'refuse'; code: 'PERSISTED_QUERY_NOT_IN_LIST' | 'PERSISTED_QUERY_ID_REQUIRED' | 'PERSISTED_QUERY_INVALID' | 'PERSISTED_QUERY_HASH_MISMATCH'; message: string };

export interface OperationIndex {
  byId: ReadonlyMap<string, PersistedOperation>;
  /** The manifest operation whose text this is, ignoring insignificant whitespace and comments. */
  byText(query: string): PersistedOperation | undefined;
}

export function indexManifest(m: Manifest, maxTokens: number): OperationIndex {
  const byId = new Map(m.operations.map((o) => [o.id, o] as const));
  return {
    byId,
    byText(query) {
      try {
        // Manifest bodies are print()ed, so printing the client's text finds the same id.
        return byId.get(operationId(print(parse(query, { maxTokens, noLocation: true }))));
      } catch {
        return undefined; // not a document: Apollo reports the syntax error, or the list refuses it
      }
    },
  };
}

const RUN: Decision = { kind: 'run' };
export const notInList: Extract<Decision, { kind: 'refuse' }> = { kind: 'refuse', code: 'PERSISTED_QUERY_NOT_IN_LIST', message: 'this client may run only the operations of its persisted operation list' };
const hashMismatch: Decision = { kind: 'refuse', code: 'PERSISTED_QUERY_HASH_MISMATCH', message: 'extensions.persistedQuery.sha256Hash is not the sha256 of the query sent with it' };
const idRequired: Decision = { kind: 'refuse', code: 'PERSISTED_QUERY_ID_REQUIRED', message: 'this client must send the id of a persisted operation (extensions.persistedQuery.sha256Hash), not its text' };

export const locked = (mode: Mode) => mode === 'SAFELIST' || mode === 'IDS_ONLY';

/** Whether and what a client runs, from the id (extensions.persistedQuery.sha256Hash) and/or the text it sent. */
export function decide(p: ClientPolicy, req: { query?: string; hash?: string }, ops: OperationIndex): Decision {
  if (req.hash !== undefined) {
    if (req.query !== undefined && operationId(req.query) !== req.hash) return hashMismatch;
    const op = ops.byId.get(req.hash);
    if (op && p.allowed.has(op.id)) return { kind: 'run', operation: op };
    if (locked(p.mode)) return notInList; // never the APQ cache: what it holds is not the partner's list
    return op ? { kind: 'run', operation: op } : RUN; // unknown id: automatic persisted queries
  }
  if (req.query === undefined) return RUN;
  if (p.mode === 'IDS_ONLY') return idRequired;
  // Text is matched to the list when the list matters; for ALLOW_ALL only an exact copy is (cheaply) recognised.
  const op = ops.byId.get(operationId(req.query)) ?? (p.mode === 'ALLOW_ALL' ? undefined : ops.byText(req.query));
  if (op && p.allowed.has(op.id)) return { kind: 'run', operation: op };
  if (p.mode === 'SAFELIST') return notInList;
  return op ? { kind: 'run', operation: op } : RUN;
}

export const refusal = (d: Extract<Decision, { kind: 'refuse' }>) => appError(d.code, d.message, { httpStatus: 400 });

const HASH = /^[0-9a-f]{64}$/;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * extensions.persistedQuery as Apollo's protocol defines it, or a refusal:
 * `{ "version": 1, "sha256Hash": "<64 lowercase hex>" }` and nothing else. A
 * hash of another shape (an array, an object, a number) is refused rather than
 * ignored: Apollo would still look it up (its cache key is 'apq:' + hash, and
 * ['h'] prints as 'h').
 */
export function persistedQueryOf(extensions: unknown): { kind: 'none' | 'hash'; hash?: string } | { kind: 'malformed'; refusal: Extract<Decision, { kind: 'refuse' }> } {
  const malformed = (why: string) => ({ kind: 'malformed' as const, refusal: { kind: 'refuse' as const, code: 'PERSISTED_QUERY_INVALID' as const, message: `extensions.persistedQuery ${why}: send { "version": 1, "sha256Hash": "<sha256 hex of the operation>" }` } });
  if (extensions === undefined || extensions === null) return { kind: 'none' };
  if (!isPlainObject(extensions)) return malformed('cannot be read: extensions must be an object');
  const pq = extensions.persistedQuery;
  if (pq === undefined) return { kind: 'none' };
  if (!isPlainObject(pq)) return malformed('must be an object');
  const extra = Object.keys(pq).filter((k) => k !== 'version' && k !== 'sha256Hash');
  if (extra.length) return malformed(`has unknown fields (${extra.slice(0, 5).join(', ')})`);
  if (pq.version !== 1) return malformed('has an unsupported version (only 1 exists)');
  if (typeof pq.sha256Hash !== 'string' || !HASH.test(pq.sha256Hash)) return malformed('needs sha256Hash as 64 lowercase hexadecimal characters');
  return { kind: 'hash', hash: pq.sha256Hash };
}
