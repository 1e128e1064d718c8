/**
 * The one rule of who sees and does what, for every subgraph (auth.ts only
 * says who is calling). In order:
 *
 * - A service credential (another subgraph) sees and does everything.
 * - A user with no known role has no standing anywhere.
 * - An operator (a user of one of a domain's configured operator
 *   organisations holding one of that domain's operator roles: the venue's
 *   ATS_OPERATOR, the settlement operator's SETTLEMENT_AGENT...) sees every
 *   organisation's rows of that domain. The same role in any other
 *   organisation gives no operator power at all.
 * - Any other user sees its own organisation's rows; a user whose only role is
 *   INVESTOR sees only rows that are its own (its investor id).
 */
import { defaultFieldResolver, type GraphQLSchema } from 'graphql';
import type { Caller, Role } from './auth.js';
import { forbidden } from './errors.js';

export interface Owner {
  /** null: a party not known yet (nobody's). */
  org: string | null;
  investorId?: string | null;
}

/** An operator's organisations and roles in one domain (trading's venue, settlement, ...). */
export interface OperatorRule {
  orgs: readonly string[];
  roles: readonly Role[];
}

/** The settlement operator (SETTLEMENT_OPERATOR_ORGS): sees every settlement, and may ask about any investor's eligibility. */
export const settlementOperator = (orgs: readonly string[]): OperatorRule => ({ orgs, roles: ['SETTLEMENT_AGENT', 'AUDITOR', 'COMPLIANCE_OFFICER'] });

export const isService = (c: Caller): boolean => c.kind === 'service';

/** A user acting only as an investor: INVESTOR and no institutional role (an empty role list is not an investor: it is nobody). */
export const investorOnly = (c: Caller): boolean => c.kind === 'user' && c.roles.length > 0 && c.roles.every((r) => r === 'INVESTOR');

/** A service, or a user of an operator organisation with one of the operator roles. */
export function isOperator(c: Caller, rule: OperatorRule): boolean {
  return c.kind === 'service' || (rule.orgs.includes(c.org) && c.roles.some((r) => rule.roles.includes(r)));
}

/** Row-level scoping of one row with one owner. */
export function canSee(c: Caller, owner: Owner, operator?: OperatorRule): boolean {
  if (c.kind === 'service') return true;
  if (c.roles.length === 0) return false;
  if (operator && isOperator(c, operator)) return true;
  if (c.org !== owner.org) return false;
  if (investorOnly(c)) return !!c.investorId && c.investorId === owner.investorId;
  return true;
}

/** The same rule as a filter for lists: everything, one organisation, or one investor in it. */
export interface Scope {
  all: boolean;
  org: string;
  /** Set for an investor-only caller ('-' when its token names no investor: it sees nothing). */
  investorId?: string;
}

export function scopeOf(c: Caller, operator?: OperatorRule): Scope {
  const all = c.kind === 'service' || (!!operator && isOperator(c, operator));
  const none = c.kind === 'user' && c.roles.length === 0;
  return { all, org: none ? '-' : c.org, investorId: !all && (none || investorOnly(c)) ? (c.investorId ?? '-') : undefined };
}

/** A row with several parties (a trade, a settlement): seen by the scope when it sees any of them. */
export function inScope(s: Scope, parties: readonly Owner[]): boolean {
  if (s.all) return true;
  return parties.some((p) => p.org === s.org && (!s.investorId || s.investorId === p.investorId));
}

export function requireRole(caller: Caller, ...roles: Role[]): void {
  if (caller.kind === 'service') return;
  if (!roles.some((r) => caller.roles.includes(r))) throw forbidden(`requires one of the roles ${roles.join(', ')}`);
}

/** Operator powers: the role alone is not enough, the organisation must be one the domain names. */
export function requireOperator(caller: Caller, rule: OperatorRule, setting: string): void {
  if (isOperator(caller, rule)) return;
  throw forbidden(`requires one of the roles ${rule.roles.join(', ')} in an operator organisation (${setting})`);
}

export function requireService(caller: Caller): void {
  if (caller.kind !== 'service') throw forbidden('internal operation: a service credential is required');
}

/**
 * A root query field only a service credential may call (in production,
 * `_service { sdl }`: the subgraph's full schema is the gateway's business,
 * not a client's). Anyone else gets FORBIDDEN.
 */
export function serviceOnlyQueryField(schema: GraphQLSchema, name: string): void {
  const field = schema.getQueryType()?.getFields()[name];
  if (!field) return;
  const inner = field.resolve ?? defaultFieldResolver;
  field.resolve = (source, args, context: { caller?: Caller }, info) => {
    if (!context.caller) throw forbidden('internal operation: a service credential is required');
    requireService(context.caller);
    return inner(source, args, context, info);
  };
}
