import type { JsonRpcProvider } from 'ethers';
import { PolledWorker } from '../kit/chain/polling.js';
import { scanTransfers } from '../kit/chain/transfers.js';
import type { Db } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import { applyAssetTransfers } from './chain-books.js';
import { assetCursor, indexedAssets } from './store/chain.js';

export interface IndexerOptions {
  /** Blocks on top of a block before its transfers count (deposits are credited only then). */
  confirmations: number;
  pollMs: number;
  /** Most blocks per eth_getLogs. */
  maxRange: number;
  /** An asset's cursor starts after this block. */
  fromBlock: number;
}

/**
 * Custody's chain indexer: every Transfer of every registered asset (one with
 * a contract address) up to the confirmed head, applied range by range with
 * the asset's cursor in one transaction (kit/chain/transfers.ts), so a restart
 * resumes exactly where it stopped and nothing is applied twice.
 */
export class CustodyIndexer extends PolledWorker {
  lastError?: string;
  /** The chain's head at the last pass (unconfirmed; the metrics measure the lag against it). */
  chainHead?: number;

  constructor(private readonly db: Db, private readonly provider: () => Promise<JsonRpcProvider>, private readonly o: IndexerOptions, private readonly log?: Logger) {
    super(o.pollMs);
  }

  /** One pass over every asset up to the confirmed head; a call during a pass gets the next one. */
  syncOnce(): Promise<void> {
    return this.runPass();
  }

  protected async pass(): Promise<void> {
    try {
      const assets = await indexedAssets(this.db);
      if (!assets.length) return;
      const provider = await this.provider();
      this.chainHead = await provider.getBlockNumber();
      const head = this.chainHead - this.o.confirmations;
      for (const a of assets) {
        await scanTransfers({
          db: this.db, provider, cursor: assetCursor(a.id), token: a.contract_address, initialBlock: this.o.fromBlock, head, maxRange: this.o.maxRange,
          apply: (q, logs, range) => applyAssetTransfers(q, a.id, logs, range).then(() => undefined),
        });
      }
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log?.warn({ err: this.lastError }, 'custody chain indexer will retry');
    }
  }
}
