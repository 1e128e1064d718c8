import type { Queryable } from '../../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../../kit/loaders.js';
import { affiliationsOf, walletsOf } from '../store/holdings.js';
import { auditOf, documentsOf } from '../store/records.js';
import { tokensByIds } from '../store/tokens.js';
import { investorsByIds } from '../store/investors.js';
import { ballotsOf, entitlementsOf } from '../store/votes.js';
import { distributionsByIds, statusCounts, taxFormsOf } from '../store/distributions.js';

export const createLoaders = (q: Queryable) => ({
  token: keyedLoader((ids) => tokensByIds(q, ids), (r) => r.id),
  investor: keyedLoader((ids) => investorsByIds(q, ids), (r) => r.id),
  wallets: groupedLoader((ids) => walletsOf(q, ids), (r) => r.investor_id),
  affiliations: groupedLoader((ids) => affiliationsOf(q, ids), (r) => r.investor_id),
  documents: groupedLoader((ids) => documentsOf(q, ids), (r) => r.token_id),
  audit: groupedLoader((ids) => auditOf(q, ids), (r) => r.subject_id),
  voteEntitlements: groupedLoader((ids) => entitlementsOf(q, ids), (r) => r.vote_id),
  ballots: groupedLoader((ids) => ballotsOf(q, ids), (r) => r.vote_id),
  distribution: keyedLoader((ids) => distributionsByIds(q, ids), (r) => r.id),
  entitlementCounts: groupedLoader((ids) => statusCounts(q, ids), (r) => r.distribution_id),
  taxForms: groupedLoader((ids) => taxFormsOf(q, ids), (r) => r.investor_id),
});
export type IssuanceLoaders = ReturnType<typeof createLoaders>;
