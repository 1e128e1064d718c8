import { zeroPadValue } from 'ethers';
import { scanTransfers } from '../../kit/chain/transfers.js';
import type { Db } from '../../kit/db/types.js';
import type { Logger } from '../../kit/log.js';
import { PolledWorker } from '../../kit/chain/polling.js';
import type { IssuanceChain } from './runtime.js';
import { deployedTokens, type TokenRow } from '../store/tokens.js';
import type { ComplianceConfig } from '../domain/compliance/index.js';
import { applyRange } from './range.js';

const MAX_RANGE = 2_000;

export interface IndexerOptions {
  /** Blocks behind the head that count as final. */
  confirmations: number;
  pollMs: number;
}

/**
 * Books follow the chain: every Transfer of a deployed token moves wallet
 * holdings, investor positions, holder counters and lots (range.ts, a range
 * of logs at a time), in one transaction with the token's block cursor, so a
 * restart resumes exactly where it stopped and nothing is applied twice.
 */
export class HoldingsIndexer extends PolledWorker {
  lastError?: string;

  constructor(private readonly db: Db, private readonly chain: IssuanceChain, private readonly config: ComplianceConfig, private readonly o: IndexerOptions, private readonly log: Logger) {
    super(o.pollMs);
  }

  /** One pass over every deployed token up to the confirmed head; a call during a pass gets the next one. */
  syncOnce(): Promise<void> {
    return this.runPass();
  }

  protected async pass(): Promise<void> {
    if (!this.chain.configured) return;
    try {
      const tokens = await deployedTokens(this.db);
      if (!tokens.length) return;
      const client = await this.chain.client();
      const head = (await client.provider.getBlockNumber()) - this.o.confirmations;
      for (const t of tokens) await this.syncToken(t, head);
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log.warn({ err: this.lastError }, 'holdings indexer will retry');
    }
  }

  private async syncToken(t: TokenRow, head: number): Promise<void> {
    const client = await this.chain.client();
    await scanTransfers({
      db: this.db, provider: client.provider, cursor: `token:${t.id}`, token: t.chain!.token, initialBlock: Number(t.deployed_block ?? 0), head, maxRange: MAX_RANGE,
      apply: (q, logs, range) => applyRange(q, t, logs, range, this.config),
    });
  }
}

export const paddedTopic = (a: string) => zeroPadValue(a, 32);
