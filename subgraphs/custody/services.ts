import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import { appError, forbidden } from '../kit/errors.js';
import type { WithdrawalPolicy } from './domain/policy.js';
import type { WalletKeys } from './keys.js';
import type { InvestorLookup, TransferEligibility } from './peers.js';
import type { CustodyLoaders } from './resolvers/loaders.js';

/** What the custody services need, built once per process (tests build their own). */
export interface CustodyEnv {
  db: Db;
  /** The service clock: delays and velocity windows are measured on it. */
  now(): Date;
  /** The configured policy for organisations that have not approved their own. */
  defaults: WithdrawalPolicy;
  eligibility: TransferEligibility;
  /** Issuance's answer whether an investor exists (accounts are opened only for known investors). */
  investorExists: InvestorLookup;
}

/** The context of one GraphQL request (the resolver files import it from here, not from each other). */
export interface CustodyContext extends BaseContext_ { loaders: CustodyLoaders; keys: WalletKeys; env: CustodyEnv }

/** Approvals and policy work are for people holding the CUSTODIAN role, never for services. */
export function requireCustodian(caller: Caller): void {
  if (caller.kind !== 'user' || !caller.roles.includes('CUSTODIAN')) throw forbidden('requires the CUSTODIAN role');
}

export const unknownAccount = (accountId: string) =>
  appError('CUSTODY.UNKNOWN_ACCOUNT', `custody account ${accountId} does not exist`, { details: { accountId } });

export const unknownAsset = (asset: string) =>
  appError('CUSTODY.UNKNOWN_ASSET', `custody holds no asset ${asset}`, { details: { asset } });

export const invalidState = (kind: string, id: string, status: string, expected: string) =>
  appError('CUSTODY.INVALID_STATE', `${kind} ${id} is ${status}; this needs ${expected}`, { details: { id, status } });
