/** Settlement's figures for GET /metrics, read from its tables when Prometheus scrapes. */
import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../../kit/metrics.js';
import type { SubgraphRuntime } from '../../kit/subgraph.js';

export function settlementMetrics(rt: SubgraphRuntime): void {
  const backlog = () => rt.db.query<{ status: string; n: string; age: string | null }>(
    `SELECT status, count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM settlements WHERE NOT final GROUP BY status`);
  rt.metrics.gauge('tokenstack_settlement_backlog', 'settlements not final yet, by status', ['status'], async () =>
    (await backlog()).map((r) => ({ labels: { status: r.status }, value: Number(r.n) })));
  rt.metrics.gauge('tokenstack_settlement_backlog_oldest_age_seconds', 'age of the oldest settlement not final yet, by status', ['status'], async () =>
    (await backlog()).map((r) => ({ labels: { status: r.status }, value: Math.max(0, Number(r.age ?? 0)) })));
  rt.metrics.gauge('tokenstack_settlement_bookings_stopped', 'trades settled on chain whose finishing (the booking at custody, the attestation, the final commit) stopped: an operator must act (Settlement.bookingStopped)', [], async () =>
    [{ labels: {}, value: Number((await rt.db.query<{ n: string }>('SELECT count(*) AS n FROM settlements WHERE booking_stopped IS NOT NULL'))[0].n) }]);
  rt.metrics.gauge('tokenstack_settlement_dvp_transactions', 'DvP batches (one on-chain transaction each), by status and mode', ['status', 'mode'], async () =>
    (await rt.db.query<{ status: string; mode: string; n: string }>('SELECT status, mode, count(*) AS n FROM dvp_batches GROUP BY status, mode'))
      .map((r) => ({ labels: { status: r.status, mode: r.mode }, value: Number(r.n) })));
}

/** Gas of each DvP transaction as it is found settled, by mode (a netted one carries many trades). */
export function dvpGasRecorder(m: Metrics) {
  const registers = [m.registry];
  const gas = new Histogram({ name: 'tokenstack_settlement_dvp_gas_used', help: 'gas used by one settled DvP batch (its share of a transaction gross batches shared), by mode', labelNames: ['mode'], buckets: [50e3, 100e3, 200e3, 300e3, 500e3, 1e6, 2e6, 5e6, 10e6, 30e6], registers });
  const fees = new Counter({ name: 'tokenstack_settlement_dvp_fees_wei_total', help: 'fees paid for settled DvP transactions (gas used times effective gas price), in wei, by mode', labelNames: ['mode'], registers });
  return (mode: 'GROSS' | 'NETTED', gasUsed: bigint, effectiveGasPrice: bigint): void => {
    gas.observe({ mode }, Number(gasUsed));
    fees.inc({ mode }, Number(gasUsed * effectiveGasPrice));
  };
}
