import type { SubgraphRuntime } from '../kit/subgraph.js';
import type { PayingAccount } from './distributions.js';

/**
 * The internal calls issuance makes: one, custody's record of an account (whose investor owns a
 * distribution's or a split's paying account: distributions.ts checkPayment).
 */
export interface Peers {
  custodyAccount(accountId: string): Promise<PayingAccount | null>;
}

export const httpPeers = (rt: SubgraphRuntime): Peers => ({
  custodyAccount: (accountId) => rt.peer('custody').call<PayingAccount | null>('account', { accountId }),
});
