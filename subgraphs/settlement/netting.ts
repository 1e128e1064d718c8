import { startLoop } from '../kit/loop.js';
import { driveBatch, openNettedBatch } from './batches.js';
import { message, type SettlementServices } from './services.js';
import { nettableTokens } from './store/settlements.js';

/**
 * The netting cycle (DvP model 2): every interval, the verified netted
 * settlements of each token go into one batch: security legs gross, cash
 * netted per wallet, one transaction. Gross real-time settlement is the default.
 *
 * A cycle opens its batches and sets them going; it does not wait for them to
 * be consented, mined and booked, so the next cycle opens the next batches
 * while earlier ones are still on chain (each batch row is leased to the
 * process driving it, and after a crash the worker picks it up).
 */
const driving = new WeakMap<SettlementServices, Set<Promise<unknown>>>();

export async function nettingCycle(s: SettlementServices): Promise<number> {
  if (!s.chain.configured) return 0;
  let batches = 0;
  let set = driving.get(s);
  if (!set) driving.set(s, (set = new Set()));
  for (const { token_id } of await nettableTokens(s.db)) {
    for (;;) {
      const b = await openNettedBatch(s, token_id);
      if (!b) break;
      batches++;
      const p: Promise<unknown> = s.leases.during('dvp_batches', b, () => driveBatch(s, b)).catch((e) => s.log.warn({ batchId: b.id, err: message(e) }, 'netted batch step failed; the worker retries')).finally(() => set.delete(p));
      set.add(p);
    }
  }
  return batches;
}

/** Resolves once every batch the netting cycles set going has come to rest. */
export async function nettingIdle(s: SettlementServices): Promise<void> {
  const set = driving.get(s);
  while (set?.size) await Promise.allSettled([...set]);
}

export function startNetting(s: SettlementServices, intervalMs: number): () => Promise<void> {
  const stop = startLoop(async () => { await nettingCycle(s); }, intervalMs, {
    immediate: false, onError: (e) => s.log.warn({ err: message(e) }, 'netting cycle failed; next cycle retries'),
  });
  return async () => {
    await stop();
    await nettingIdle(s);
  };
}
