/** The compliance rules engine of the issuance subgraph: plain functions, no GraphQL, no SQL, no I/O. */
export { evaluateTransfer, RULE_CATALOGUE, RULE_CODES, type RuleCode } from './engine.js';
export { complianceConfigFrom, defaultComplianceConfig, type ComplianceConfig, type ComplianceConfigOverrides } from './config.js';
export { ComplianceInputError } from './errors.js';
export { addMonthsUtc, addDaysUtc, addPeriod, type Period } from './time.js';
export type * from './types.js';
export { receivedLot, untracedLot, type LotOrigin, type Receipt } from './lot-origin.js';
