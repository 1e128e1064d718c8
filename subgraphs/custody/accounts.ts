import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import type { WalletKeys } from './keys.js';
import { insertAccount } from './store/accounts.js';
import { isId, requireIdempotencyKey } from '../kit/inputs.js';
import type { InvestorLookup } from './peers.js';

export interface OpenAccountInput { idempotencyKey: string; investorId: string; kind: string }

export async function openCustodyAccount(db: Db, keys: WalletKeys, caller: Caller, input: OpenAccountInput, investorExists: InvestorLookup) {
  requireRole(caller, 'CUSTODIAN', 'BROKER_DEALER', 'ISSUER_AGENT');
  requireIdempotencyKey(input.idempotencyKey);
  if (!isId(input.investorId, 'inv')) throw badInput('INVALID_INVESTOR_ID', `investorId "${String(input.investorId).slice(0, 40)}" is not an investor id`);
  if (!(await investorExists(input.investorId))) throw appError('CUSTODY.UNKNOWN_INVESTOR', `investor ${input.investorId} is not known to issuance`);
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertAccount(q, {
      id: newId('acc'), org: caller.org, investor_id: input.investorId, kind: input.kind,
      idempotency_key: input.idempotencyKey, request_hash: hash,
    });
    if (!created) return row;
    const wallet = await keys.open(q, row.id);
    await appendEvent(q, 'account.opened', row.id, { accountId: row.id, investorId: row.investor_id, org: row.org, walletAddress: wallet.address });
    return row;
  });
}
