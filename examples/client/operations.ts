import { graphql } from './generated/index.js';

// The operations this client sends. `npm run codegen` reads them from this file
// and writes their result and variable types to generated/.

export const SecurityTokens = graphql(`
  query SecurityTokens {
    securityTokens { id symbol name exemption status totalSupply }
  }
`);

export const CreateSecurityToken = graphql(`
  mutation CreateSecurityToken($input: CreateSecurityTokenInput!) {
    createSecurityToken(input: $input) { id symbol exemption status }
  }
`);

export const SettlementStatusChanged = graphql(`
  subscription SettlementStatusChanged($settlementId: ID, $after: String) {
    settlementStatusChanged(settlementId: $settlementId, after: $after) {
      cursor settlementId status previousStatus reasonCode final at
    }
  }
`);
