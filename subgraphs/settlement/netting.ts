import { startLoop } from '../kit/loop.js';
import { driveBatch, openNettedBatch } from './batches.js';
import { message, type SettlementServices } from './services.js';
import { nettableTokens } from './store.js';

/**
 * The netting cycle (DvP model 2): every interval, the verified netted
 * settlements of each token go into one batch: security legs gross, cash
 * netted per wallet, one transaction. Gross real-time settlement is the default.
 */
export async function nettingCycle(s: SettlementServices): Promise<number> {
  if (!s.chain.configured) return 0;
  let batches = 0;
  for (const { token_id } of await nettableTokens(s.db)) {
    for (;;) {
      const b = await openNettedBatch(s, token_id);
      if (!b) break;
      batches++;
      await driveBatch(s, b);
    }
  }
  return batches;
}

export function startNetting(s: SettlementServices, intervalMs: number): () => Promise<void> {
  return startLoop(async () => { await nettingCycle(s); }, intervalMs, {
    immediate: false, onError: (e) => s.log.warn({ err: message(e) }, 'netting cycle failed; next cycle retries'),
  });
}
