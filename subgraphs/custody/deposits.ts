import { type Caller } from '../kit/auth.js';
import { canSee } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { parseAccountId, parseAsset } from './inputs.js';
import { accountsByIds } from './store/accounts.js';
import { depositsOfOrg, type DepositRow } from './store/chain.js';

/** Deposits of the caller's organisation (an investor: its own accounts only), optionally of one account or asset. */
export async function listDeposits(db: Db, caller: Caller, a: { accountId?: string | null; asset?: string | null }): Promise<DepositRow[]> {
  const accountId = a.accountId == null ? null : parseAccountId(a.accountId);
  const asset = a.asset == null ? null : parseAsset(a.asset);
  const rows = await depositsOfOrg(db, caller.org, { accountId, asset });
  const owners = new Map((await accountsByIds(db, [...new Set(rows.map((r) => r.account_id))])).map((x) => [x.id, x] as const));
  return rows.filter((r) => {
    const o = owners.get(r.account_id);
    return !!o && canSee(caller, { org: o.org, investorId: o.investor_id });
  });
}
