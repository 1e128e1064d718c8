import { Contract } from 'ethers';
import { serviceToken } from '../subgraphs/kit/auth.js';
import { loadArtifact } from '../subgraphs/kit/chain/artifacts.js';
import { deployCashToken } from './chain/cash-token.js';
import { createChainClient } from '../subgraphs/kit/chain/client.js';
import { InternalClient } from '../subgraphs/kit/internal.js';

export interface CashTokenSetup {
  custodyUrl: string;
  serviceSecret: string;
  rpcUrl: string;
  /** Deploys the token when custody has none; without it custody must already know CASH. */
  issuerKey?: string;
}

/**
 * The cash leg of DvP in the default setup: an ERC-20 standing in for
 * tokenized deposits. Custody's registry is the record of which contract is
 * CASH, so a restart on the same data reuses it instead of deploying again.
 */
export async function ensureCashToken(s: CashTokenSetup): Promise<{ address: string; minterKey?: string } | undefined> {
  const custody = new InternalClient('custody', s.custodyUrl.replace(/\/graphql$/, ''), () => serviceToken({ serviceSecret: s.serviceSecret, issuer: 'tokenstack' }, 'setup'));
  // registerAsset without an address reads (or creates) the entry and never overwrites an address.
  const known = await custody.call<{ contractAddress: string | null }>('registerAsset', { asset: 'CASH' });
  if (known.contractAddress) return { address: known.contractAddress, minterKey: s.issuerKey };
  if (!s.issuerKey) return undefined;
  const client = await createChainClient({ rpcUrl: s.rpcUrl, privateKey: s.issuerKey });
  try {
    const { address } = await deployCashToken(client);
    await custody.call('registerAsset', { asset: 'CASH', contractAddress: address });
    return { address, minterKey: s.issuerKey };
  } finally {
    await client.close();
  }
}

/**
 * The dev bank: mints cash to a wallet that holds none, so that seeding twice
 * (a restart on the same chain) funds an account once.
 */
export async function cashMinter(rpcUrl: string, cash: { address: string; minterKey?: string }) {
  if (!cash.minterKey) throw new Error('the cash token has no minter key in this setup');
  const client = await createChainClient({ rpcUrl, privateKey: cash.minterKey });
  const token = new Contract(cash.address, loadArtifact('CashToken', 'project').abi, client.signer);
  return {
    /** True when it minted; false when the wallet already held cash. */
    async mint(wallet: string, amount: bigint): Promise<boolean> {
      if ((await client.read<bigint>(token.balanceOf(wallet))) > 0n) return false;
      await client.send(token.mint(wallet, amount));
      return true;
    },
    /** Native currency for a wallet's gas (a custody wallet that pays signs its own transfers); false when it had some. */
    async fuel(wallet: string, wei: bigint): Promise<boolean> {
      if ((await client.provider.getBalance(wallet)) > 0n) return false;
      await client.send(client.signer.sendTransaction({ to: wallet, value: wei }));
      return true;
    },
    close: () => client.close(),
  };
}
