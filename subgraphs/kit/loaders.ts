import DataLoader from 'dataloader';

/**
 * A per-request loader by key honouring DataLoader's batch contract: results
 * in the same order and length as the keys, null where no row exists.
 */
export function keyedLoader<K extends string, R>(fetch: (keys: readonly K[]) => Promise<R[]>, keyOf: (row: R) => K): DataLoader<K, R | null> {
  return new DataLoader<K, R | null>(async (keys) => {
    const rows = await fetch(keys);
    const byKey = new Map(rows.map((r) => [keyOf(r), r] as const));
    return keys.map((k) => byKey.get(k) ?? null);
  });
}

/** A per-request loader of one-to-many rows (e.g. accounts of an investor); [] where none. */
export function groupedLoader<K extends string, R>(fetch: (keys: readonly K[]) => Promise<R[]>, keyOf: (row: R) => K): DataLoader<K, R[]> {
  return new DataLoader<K, R[]>(async (keys) => {
    const rows = await fetch(keys);
    const groups = new Map<K, R[]>();
    for (const r of rows) {
      const k = keyOf(r);
      const g = groups.get(k);
      if (g) g.push(r); else groups.set(k, [r]);
    }
    return keys.map((k) => groups.get(k) ?? []);
  });
}
