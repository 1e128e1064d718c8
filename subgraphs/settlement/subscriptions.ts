/**
 * settlementStatusChanged: follows settlement's own outbox (topic
 * settlement.status) from a cursor, the outbox seq as a string. The seq is
 * commit order without gaps, so resuming `after` the last cursor seen loses
 * and repeats nothing; without `after`, the stream starts at the current end.
 * Scoped like every read: a caller sees the events of settlements it may see.
 */
import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { follow, parseCursor } from '../kit/follow.js';
import type { OutboxEvent, OutboxWatcher } from '../kit/outbox.js';
import { seesEvent, visibilityOf } from './access.js';
import type { SettlementConfig } from './settings.js';
import { isId } from '../kit/inputs.js';

interface StatusPayload {
  settlementId: string; status: string; previousStatus: string | null; reasonCode: string | null; reason: string | null; final: boolean; at: string;
  buyerAccountId: string; sellerAccountId: string; buyerInvestorId: string | null; sellerInvestorId: string | null; orgs: string[];
}

export interface StatusEventView {
  cursor: string; settlementId: string; status: string; previousStatus: string | null; reasonCode: string | null; reason: string | null; final: boolean; at: Date;
}

export function statusStream(db: Db, outbox: OutboxWatcher, config: Pick<SettlementConfig, 'SETTLEMENT_OPERATOR_ORGS'>, caller: Caller,
  a: { settlementId?: string | null; accountId?: string | null; after?: string | null }): AsyncIterableIterator<StatusEventView> {
  if (a.settlementId && !isId(a.settlementId, 'stl')) throw badInput('INVALID_SETTLEMENT_ID', 'settlementId is not a settlement id');
  if (a.accountId && !isId(a.accountId, 'acc')) throw badInput('INVALID_ACCOUNT_ID', 'accountId is not a custody account id');
  const v = visibilityOf(caller, config);
  const match = (e: OutboxEvent) => {
    const p = e.payload as unknown as StatusPayload;
    return seesEvent(v, p) && (!a.settlementId || p.settlementId === a.settlementId)
      && (!a.accountId || p.buyerAccountId === a.accountId || p.sellerAccountId === a.accountId);
  };
  return follow(db, outbox, {
    after: parseCursor(a.after), topics: ['settlement.status'], match,
    map: (e): StatusEventView => {
      const p = e.payload as unknown as StatusPayload;
      return { cursor: e.seq, settlementId: p.settlementId, status: p.status, previousStatus: p.previousStatus, reasonCode: p.reasonCode, reason: p.reason, final: p.final, at: new Date(p.at) };
    },
  });
}
