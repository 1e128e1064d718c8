import { type Caller } from '../kit/auth.js';
import { canSee } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { unknownAsset } from './services.js';
import { parseAsset } from './inputs.js';
import { buildHoldingsTree, type HoldingWithProof } from './domain/holdings-proof.js';
import { accountsByIds } from './store/accounts.js';
import { assetById, holdersOf } from './store/ledger.js';

export interface HoldingsProof {
  asset: string;
  root: string;
  total: bigint;
  leafCount: number;
  asOf: Date;
  /** Inclusion proofs of the accounts the caller may see; the root covers every account. */
  proofs: HoldingWithProof[];
}

/**
 * Proof of holdings of one asset: the root commits to every account's total
 * (one consistent read); each caller gets the proofs of its own accounts only.
 */
export async function proofOfHoldings(db: Db, caller: Caller, assetArg: string): Promise<HoldingsProof> {
  const asset = parseAsset(assetArg);
  if (!(await assetById(db, asset))) throw unknownAsset(asset);
  const asOf = new Date();
  const rows = await holdersOf(db, asset);
  const tree = buildHoldingsTree(rows.map((r) => ({ accountId: r.account_id, balance: BigInt(r.total) })));
  const owners = new Map((await accountsByIds(db, rows.map((r) => r.account_id))).map((a) => [a.id, a] as const));
  const proofs = tree.holdings.filter((h) => {
    const a = owners.get(h.accountId);
    return !!a && canSee(caller, { org: a.org, investorId: a.investor_id });
  });
  return { asset, root: tree.root, total: tree.total, leafCount: tree.holdings.length, asOf, proofs };
}
