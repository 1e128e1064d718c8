import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** One entry of Apollo's persisted query manifest. */
export interface PersistedOperation {
  /** sha256 hex of `body`: the id clients send as extensions.persistedQuery.sha256Hash. */
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
}

/** Apollo's persisted query manifest format (what `rover persisted-queries publish` and the router read). */
export interface Manifest {
  format: 'apollo-persisted-query-manifest';
  version: 1;
  operations: PersistedOperation[];
}

/** The same hash Apollo Server computes for a query, so a persisted id is also the APQ hash and the plan-cache key. */
export const operationId = (body: string): string => createHash('sha256').update(body).digest('hex');

export function manifestOf(operations: PersistedOperation[]): Manifest {
  return { format: 'apollo-persisted-query-manifest', version: 1, operations: [...operations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}

/** Stable text (operations in code-point order of names, whatever the locale), so that the checked-in file changes only when an operation does. */
export const serializeManifest = (m: Manifest): string => JSON.stringify(m, null, 2) + '\n';

/** Reads a manifest and checks what the gateway relies on: the format and that every id is the hash of its body. */
export function readManifest(path: string): Manifest {
  const m = JSON.parse(readFileSync(path, 'utf8')) as Partial<Manifest>;
  if (m.format !== 'apollo-persisted-query-manifest' || m.version !== 1 || !Array.isArray(m.operations)) {
    throw new Error(`${path}: not an apollo-persisted-query-manifest, version 1`);
  }
  for (const op of m.operations) {
    if (typeof op.body !== 'string' || op.id !== operationId(op.body)) throw new Error(`${path}: operation ${op.name ?? '?'} has an id that is not the sha256 of its body`);
  }
  return m as Manifest;
}
