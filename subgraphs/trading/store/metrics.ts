/** Trading's figures for GET /metrics, read from its tables when Prometheus scrapes. */
import type { SubgraphRuntime } from '../../kit/subgraph.js';

export function tradingMetrics(rt: SubgraphRuntime): void {
  rt.metrics.gauge('tokenstack_trading_orders', 'orders entered, by their status now', ['status'], async () =>
    (await rt.db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM orders GROUP BY status')).map((r) => ({ labels: { status: r.status }, value: Number(r.n) })));
  rt.metrics.gauge('tokenstack_trading_trades', 'fills the matching engine has made', [], async () =>
    [{ value: Number((await rt.db.query<{ n: string }>('SELECT count(*) AS n FROM trades'))[0].n) }]);
}
