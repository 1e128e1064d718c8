/** Settlement's figures for GET /metrics, read from its tables when Prometheus scrapes. */
import type { SubgraphRuntime } from '../kit/subgraph.js';

export function settlementMetrics(rt: SubgraphRuntime): void {
  const backlog = () => rt.db.query<{ status: string; n: string; age: string | null }>(
    `SELECT status, count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM settlements WHERE NOT final GROUP BY status`);
  rt.metrics.gauge('tokenstack_settlement_backlog', 'settlements not final yet, by status', ['status'], async () =>
    (await backlog()).map((r) => ({ labels: { status: r.status }, value: Number(r.n) })));
  rt.metrics.gauge('tokenstack_settlement_backlog_oldest_age_seconds', 'age of the oldest settlement not final yet, by status', ['status'], async () =>
    (await backlog()).map((r) => ({ labels: { status: r.status }, value: Math.max(0, Number(r.age ?? 0)) })));
  rt.metrics.gauge('tokenstack_settlement_dvp_transactions', 'DvP batches (one on-chain transaction each), by status and mode', ['status', 'mode'], async () =>
    (await rt.db.query<{ status: string; mode: string; n: string }>('SELECT status, mode, count(*) AS n FROM dvp_batches GROUP BY status, mode'))
      .map((r) => ({ labels: { status: r.status, mode: r.mode }, value: Number(r.n) })));
}
