// The project's own ERC-20 for tokenized deposits: the cash leg of DvP in the default setup.
import type { Contract } from 'ethers';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import type { ChainClient } from '../../subgraphs/kit/chain/client.js';

export interface CashTokenOptions {
  name?: string;
  symbol?: string;
  /** Default 6, like most USD stablecoins and deposit tokens. */
  decimals?: number;
}

/** Deploys contracts/CashToken.sol; the client's key is its owner and the only minter. */
export async function deployCashToken(client: ChainClient, o: CashTokenOptions = {}): Promise<{ address: string; contract: Contract }> {
  const decimals = o.decimals ?? 6;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) throw new RangeError('decimals must be an integer 0..255');
  const contract = await client.deploy(loadArtifact('CashToken', 'project'), [o.name ?? 'USD Deposit Token', o.symbol ?? 'USDD', decimals]);
  return { address: contract.target as string, contract };
}
