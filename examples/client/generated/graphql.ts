/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
export type CreateSecurityTokenInput = {
  decimals: number;
  exemption: Exemption;
  /** Same key and same content: the same token is returned; same key, other content: INPUT.IDEMPOTENCY_KEY_REUSED. */
  idempotencyKey: string;
  issuerReportingSince?: string | null | undefined;
  listedOnNationalExchange?: boolean | null | undefined;
  name: string;
  /** Required for REG_S. */
  regS?: RegSTermsInput | null | undefined;
  symbol: string;
  transferRules?: TransferPolicyInput | null | undefined;
};

/** The securities exemption a token is offered under; it selects the transfer rules. */
export type Exemption =
  | 'REG_A_TIER1'
  | 'REG_A_TIER2'
  | 'REG_CF'
  | 'REG_D_506B'
  | 'REG_D_506C'
  | 'REG_S';

export type RegSCategory =
  | 'CATEGORY_1'
  | 'CATEGORY_2'
  | 'CATEGORY_3';

export type RegSTermsInput = {
  category: RegSCategory;
  distributionCompliancePeriodStart: string;
  domesticIssuer: boolean;
  securityType: SecurityType;
};

export type SecurityType =
  | 'DEBT'
  | 'EQUITY';

/** Why a settlement FAILED. */
export type SettlementFailureCode =
  /** The buyer's cash is not there (custody or chain). */
  | 'AWAITING_CASH'
  /** The seller's securities are not there (custody or chain). */
  | 'AWAITING_SECURITIES'
  /** The DvP transaction failed for another reason. */
  | 'CHAIN_ERROR'
  /** A party's identity is not (yet) verified on chain, or the token refused the transfer. */
  | 'COUNTERPARTY_INELIGIBLE';

/**
 * RECEIVED -> VERIFIED -> SETTLING -> SETTLED; REJECTED when the transfer rules refuse (final);
 * FAILED with a reasonCode, tried again with backoff until `final`; CANCELLED by a settlement agent (final).
 */
export type SettlementStatus =
  | 'CANCELLED'
  | 'FAILED'
  | 'RECEIVED'
  | 'REJECTED'
  | 'SETTLED'
  | 'SETTLING'
  | 'VERIFIED';

/**
 * DRAFT: recorded only. DEPLOYED: its ERC-3643 suite is on chain. PAUSED: deployed and paused by the issuer.
 * REDEEMED: every holding bought back and burned (announceRedemption); the token is retired, paused for good.
 */
export type TokenStatus =
  | 'DEPLOYED'
  | 'DRAFT'
  | 'PAUSED'
  | 'REDEEMED';

export type TransferPolicyInput = {
  allowOffshoreResales?: boolean | null | undefined;
  allowedCountries?: Array<string> | null | undefined;
  apply12gHolderCaps?: boolean | null | undefined;
  blockedCountries?: Array<string> | null | undefined;
  fund3c1?: boolean | null | undefined;
  lockupUntil?: string | null | undefined;
  maxBalance?: string | null | undefined;
  maxHolders?: number | null | undefined;
  maxSupplyShareBps?: number | null | undefined;
  maxUsHolders?: number | null | undefined;
  minHolding?: string | null | undefined;
  qualifyingVentureCapitalFund?: boolean | null | undefined;
};

export type SecurityTokensQueryVariables = Exact<{ [key: string]: never; }>;


export type SecurityTokensQuery = { securityTokens: Array<{ id: string, symbol: string, name: string, exemption: Exemption, status: TokenStatus, totalSupply: string }> };

export type CreateSecurityTokenMutationVariables = Exact<{
  input: CreateSecurityTokenInput;
}>;


export type CreateSecurityTokenMutation = { createSecurityToken: { id: string, symbol: string, exemption: Exemption, status: TokenStatus } };

export type SettlementStatusChangedSubscriptionVariables = Exact<{
  settlementId?: string | number | null | undefined;
  after?: string | null | undefined;
}>;


export type SettlementStatusChangedSubscription = { settlementStatusChanged: { cursor: string, settlementId: string, status: SettlementStatus, previousStatus: SettlementStatus | null, reasonCode: SettlementFailureCode | null, final: boolean, at: string } };


export const SecurityTokensDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"SecurityTokens"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"securityTokens"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"symbol"}},{"kind":"Field","name":{"kind":"Name","value":"name"}},{"kind":"Field","name":{"kind":"Name","value":"exemption"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"totalSupply"}}]}}]}}]} as unknown as DocumentNode<SecurityTokensQuery, SecurityTokensQueryVariables>;
export const CreateSecurityTokenDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"mutation","name":{"kind":"Name","value":"CreateSecurityToken"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"input"}},"type":{"kind":"NonNullType","type":{"kind":"NamedType","name":{"kind":"Name","value":"CreateSecurityTokenInput"}}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"createSecurityToken"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"input"},"value":{"kind":"Variable","name":{"kind":"Name","value":"input"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"symbol"}},{"kind":"Field","name":{"kind":"Name","value":"exemption"}},{"kind":"Field","name":{"kind":"Name","value":"status"}}]}}]}}]} as unknown as DocumentNode<CreateSecurityTokenMutation, CreateSecurityTokenMutationVariables>;
export const SettlementStatusChangedDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"subscription","name":{"kind":"Name","value":"SettlementStatusChanged"},"variableDefinitions":[{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"settlementId"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"ID"}}},{"kind":"VariableDefinition","variable":{"kind":"Variable","name":{"kind":"Name","value":"after"}},"type":{"kind":"NamedType","name":{"kind":"Name","value":"String"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"settlementStatusChanged"},"arguments":[{"kind":"Argument","name":{"kind":"Name","value":"settlementId"},"value":{"kind":"Variable","name":{"kind":"Name","value":"settlementId"}}},{"kind":"Argument","name":{"kind":"Name","value":"after"},"value":{"kind":"Variable","name":{"kind":"Name","value":"after"}}}],"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"cursor"}},{"kind":"Field","name":{"kind":"Name","value":"settlementId"}},{"kind":"Field","name":{"kind":"Name","value":"status"}},{"kind":"Field","name":{"kind":"Name","value":"previousStatus"}},{"kind":"Field","name":{"kind":"Name","value":"reasonCode"}},{"kind":"Field","name":{"kind":"Name","value":"final"}},{"kind":"Field","name":{"kind":"Name","value":"at"}}]}}]}}]} as unknown as DocumentNode<SettlementStatusChangedSubscription, SettlementStatusChangedSubscriptionVariables>;