import { Contract, parseEther } from 'ethers';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { CustodyIndexer, type IndexerOptions } from '../../subgraphs/custody/indexer.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { KEYS, openCustodyDb } from './support.js';

/**
 * Custody on a real chain: anvil, the cash token (minted by a "bank" key),
 * a custody database with CASH registered, and indexers built on demand
 * (each one is a process's indexer: a new one is a restart).
 */
export class ChainWorld {
  node!: AnvilNode;
  bank!: ChainClient;
  cash!: Contract;
  db!: Db;
  private cleanup?: () => Promise<void>;
  private readonly indexers: CustodyIndexer[] = [];

  static async start(): Promise<ChainWorld> {
    const w = new ChainWorld();
    w.node = await startAnvil({ port: 0 });
    w.bank = await createChainClient({ rpcUrl: w.node.url, privateKey: w.node.privateKeys[0] });
    w.cash = (await deployCashToken(w.bank)).contract;
    ({ db: w.db, cleanup: w.cleanup } = await openCustodyDb());
    await ledger.registerAsset(w.db, 'CASH', w.cash.target as string);
    return w;
  }

  indexer(o: Partial<IndexerOptions> = {}): CustodyIndexer {
    const i = new CustodyIndexer(this.db, async () => this.bank.provider, { confirmations: 1, pollMs: 50, maxRange: 5, fromBlock: 0, ...o });
    this.indexers.push(i);
    return i;
  }

  /** Mines empty blocks (confirmations). */
  async mine(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) await this.bank.provider.send('evm_mine', []);
  }

  /** Cash minted by the bank into an address (a deposit when the address is a custody wallet). */
  async mint(to: string, amount: bigint): Promise<string> {
    return (await this.bank.send(this.cash.mint(to, amount))).hash;
  }

  /** A transfer signed by a custody wallet's own key (it gets gas first), as another flow than the withdrawal broadcaster would. */
  async sendFromCustody(from: string, to: string, amount: bigint): Promise<string> {
    await this.fundGas(from);
    const signer = await KEYS.signer(this.db, from, this.bank.provider);
    const token = new Contract(this.cash.target as string, loadArtifact('CashToken', 'project').abi, signer);
    const sent = await token.transfer(to, amount);
    return (await this.bank.waitForReceipt(sent.hash)).hash;
  }

  async fundGas(address: string): Promise<void> {
    if ((await this.bank.provider.getBalance(address)) < parseEther('0.1')) await this.bank.send({ to: address, value: parseEther('1') });
  }

  async stop(): Promise<void> {
    for (const i of this.indexers) await i.stop();
    await this.cleanup?.();
    await this.bank?.close();
    await this.node?.stop();
  }
}
