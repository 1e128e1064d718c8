/**
 * Thrown when the engine is called with an input or a configuration that
 * cannot describe a real transfer (a zero amount, a primary issuance with a
 * sender, a Reg S token without its offering terms...). These are caller
 * bugs or bad requests, so they are thrown; a transfer that is merely not
 * allowed is never an error: it comes back as failed rule results.
 * The service maps this to a GraphQL input error (it carries no GraphQL
 * itself, to keep the domain free of transport concerns).
 */
export class ComplianceInputError extends Error {
  readonly code = 'ISSUANCE.INVALID_COMPLIANCE_INPUT';

  /** @param field the path of the offending field, e.g. `token.regS` or `from.balance` */
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ComplianceInputError';
  }
}

export function check(condition: unknown, field: string, message: string): asserts condition {
  if (!condition) throw new ComplianceInputError(field, message);
}
