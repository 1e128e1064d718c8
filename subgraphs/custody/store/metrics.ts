/** Custody's figures for GET /metrics, read from its tables (and its chain indexer) when Prometheus scrapes. */
import type { SubgraphRuntime } from '../../kit/subgraph.js';

export function custodyMetrics(rt: SubgraphRuntime, indexer: () => { chainHead?: number } | undefined): void {
  rt.metrics.gauge('tokenstack_custody_reconciliation_breaks', 'differences between the books and the chain not cleared yet (OPEN: confirmed breaks)', ['status'], async () =>
    (await rt.db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM reconciliation_breaks WHERE status <> 'CLEARED' GROUP BY status"))
      .map((r) => ({ labels: { status: r.status }, value: Number(r.n) })));
  rt.metrics.gauge('tokenstack_custody_chain_indexer_lag_blocks', 'blocks between the chain head and the asset cursor furthest behind (when the indexer runs)', [], async () => {
    const head = indexer()?.chainHead;
    if (head === undefined) return [];
    const [r] = await rt.db.query<{ b: string | null }>('SELECT min(block) AS b FROM chain_cursors');
    return [{ value: r.b === null ? 0 : Math.max(0, head - Number(r.b)) }];
  });
}
