/**
 * entitlementUpdated: follows issuance's outbox (topic entitlement.updated) from a cursor, the outbox
 * seq as a string; without `after` it starts at the current end. Scoped like the queries: the issuer's
 * organisation sees its distributions' entitlements, the organisation that onboarded a holder sees
 * that holder's, an INVESTOR its own.
 */
import type { Caller } from '../kit/auth.js';
import { investorOnly } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { follow, parseCursor } from '../kit/follow.js';
import { isId } from '../kit/inputs.js';
import type { OutboxEvent, OutboxWatcher } from '../kit/outbox.js';
import { readsWhole } from './distributions.js';
import type { entitlementEvent } from './distributions.js';

type Payload = ReturnType<typeof entitlementEvent>;
export interface EntitlementEventView extends Omit<Payload, 'at' | 'issuerOrg' | 'investorOrg'> { cursor: string; at: Date }

export function seesEntitlement(caller: Caller, p: Pick<Payload, 'issuerOrg' | 'investorOrg' | 'investorId'>): boolean {
  if (readsWhole(caller, { issuer_org: p.issuerOrg })) return true;
  if (caller.kind !== 'user' || caller.roles.length === 0 || caller.org !== p.investorOrg) return false;
  return !investorOnly(caller) || caller.investorId === p.investorId;
}

export function entitlementStream(db: Db, outbox: OutboxWatcher, caller: Caller,
  a: { investorId?: string | null; distributionId?: string | null; after?: string | null }): AsyncIterableIterator<EntitlementEventView> {
  if (a.investorId && !isId(a.investorId, 'inv')) throw badInput('INVALID_ID', 'investorId is not an investor id');
  if (a.distributionId && !isId(a.distributionId, 'dis')) throw badInput('INVALID_ID', 'distributionId is not a distribution id');
  const match = (e: OutboxEvent) => {
    const p = e.payload as unknown as Payload;
    return seesEntitlement(caller, p) && (!a.investorId || p.investorId === a.investorId) && (!a.distributionId || p.distributionId === a.distributionId);
  };
  return follow(db, outbox, {
    after: parseCursor(a.after), topics: ['entitlement.updated'], match,
    map: (e): EntitlementEventView => {
      const { issuerOrg: _i, investorOrg: _o, at, ...p } = e.payload as unknown as Payload;
      return { ...p, cursor: e.seq, at: new Date(at as unknown as string) };
    },
  });
}
