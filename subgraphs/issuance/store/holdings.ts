import { addPeriod, type AffiliateSales, type IssuerRelation, type Period, type TransferOccasion } from '../domain/compliance/index.js';
import type { Queryable } from '../../kit/db/types.js';

export interface WalletRow { address: string; investor_id: string; status: string; registered_on_chain: boolean; added_at: Date }
export interface ControlsRow { token_id: string; investor_id: string; wallet_frozen: boolean; frozen_amount: string; liquidate_only: boolean }
export interface LotRow {
  id: string; token_id: string; investor_id: string; amount: string; remaining: string; acquired_at: Date; holding_period_start: Date;
  issued_at: Date; source: string; tx_hash: string | null; restricted: boolean; parent_lot_id: string | null;
}
/**
 * The investor's relation to the issuer at an instant: ISSUER, or AFFILIATE
 * when recorded as one without dates or affiliated at any time in
 * [at - lookback, at] (230.144(b)(1) looks back three months for a seller).
 */
export async function issuerRelationAt(q: Queryable, investorId: string, at: Date, lookback: Period = {}): Promise<IssuerRelation> {
  const [r] = await issuerRelations(q, [relationAsk(investorId, at, lookback)]);
  return r;
}

/** What issuerRelations asks for the investor's relation at `at`, looking back `lookback`. */
export const relationAsk = (investorId: string, at: Date, lookback: Period = {}): RelationAsk =>
  ({ investorId, at, from: addPeriod(at, { months: -(lookback.months ?? 0), days: -(lookback.days ?? 0) }) });

export interface RelationAsk { investorId: string; at: Date; from: Date }

/** Relations of many investors, each at its own instant: ISSUER, or AFFILIATE when affiliated at any time in [from, at]. */
export async function issuerRelations(q: Queryable, asks: readonly RelationAsk[]): Promise<IssuerRelation[]> {
  const rows = await q.query<{ n: number; issuer_relation: IssuerRelation; affiliated: boolean }>(
    `SELECT x.n, i.issuer_relation,
       EXISTS (SELECT 1 FROM issuer_affiliations a WHERE a.investor_id = i.id AND a.since <= x.at AND (a.until IS NULL OR a.until > x.since)) AS affiliated
     FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS x(investor_id, at, since, n)
     JOIN investors i ON i.id = x.investor_id`,
    [asks.map((a) => a.investorId), asks.map((a) => a.at.toISOString()), asks.map((a) => a.from.toISOString())],
  );
  const out: IssuerRelation[] = asks.map(() => 'NONE');
  for (const r of rows) out[Number(r.n) - 1] = r.issuer_relation === 'NONE' && r.affiliated ? 'AFFILIATE' : r.issuer_relation;
  return out;
}

/** Issuer controls on many (token, investor) pairs; a pair without a row has none. */
export async function controlsOfMany(q: Queryable, pairs: readonly { tokenId: string; investorId: string }[]): Promise<ControlsRow[]> {
  const rows = await q.query<ControlsRow>(
    'SELECT c.* FROM investor_controls c JOIN unnest($1::text[], $2::text[]) AS k(token_id, investor_id) USING (token_id, investor_id)',
    [pairs.map((p) => p.tokenId), pairs.map((p) => p.investorId)],
  );
  const byKey = new Map(rows.map((r) => [`${r.token_id}\u0000${r.investor_id}`, r]));
  return pairs.map((p) => byKey.get(`${p.tokenId}\u0000${p.investorId}`) ?? { token_id: p.tokenId, investor_id: p.investorId, wallet_frozen: false, frozen_amount: '0', liquidate_only: false });
}

/** Why the tokens of a transaction moved from one investor to another, when someone recorded it (default: a sale). */
export async function occasionOf(q: Queryable, txHash: string, from: string, to: string | null): Promise<TransferOccasion> {
  if (!to) return 'SALE';
  return (await occasionsOf(q, [{ txHash, from, to }])).get(occasionKey(txHash, from, to)) ?? 'SALE';
}

export const occasionKey = (txHash: string, from: string, to: string) => `${txHash}\u0000${from}\u0000${to}`;

/** The occasions recorded for any of the moves, by occasionKey (a move without one is a sale). */
export async function occasionsOf(q: Queryable, moves: readonly { txHash: string; from: string; to: string }[]): Promise<Map<string, TransferOccasion>> {
  if (!moves.length) return new Map();
  const rows = await q.query<{ tx_hash: string; from_investor_id: string; to_investor_id: string; occasion: TransferOccasion }>(
    `SELECT o.tx_hash, o.from_investor_id, o.to_investor_id, o.occasion FROM transfer_occasions o
     JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(tx_hash, from_investor_id, to_investor_id) USING (tx_hash, from_investor_id, to_investor_id)`,
    [moves.map((m) => m.txHash), moves.map((m) => m.from), moves.map((m) => m.to)],
  );
  return new Map(rows.map((r) => [occasionKey(r.tx_hash, r.from_investor_id, r.to_investor_id), r.occasion]));
}

export async function insertOccasion(q: Queryable, o: { txHash: string; from: string; to: string; occasion: TransferOccasion; recordedBy: string }): Promise<void> {
  await q.query(
    `INSERT INTO transfer_occasions (tx_hash, from_investor_id, to_investor_id, occasion, recorded_by) VALUES ($1,$2,$3,$4,$5)
     ON CONFLICT (tx_hash, from_investor_id, to_investor_id) DO NOTHING`,
    [o.txHash, o.from, o.to, o.occasion, o.recordedBy],
  );
}

/** The receiver's lots of a transaction with the sender's lots they came from. */
export const receivedLots = (q: Queryable, txHash: string, from: string, to: string) =>
  q.query<LotRow & { parent_start: Date; parent_issued_at: Date; parent_restricted: boolean }>(
    `SELECT c.*, p.holding_period_start AS parent_start, p.issued_at AS parent_issued_at, p.restricted AS parent_restricted
     FROM lots c JOIN lots p ON p.id = c.parent_lot_id WHERE c.tx_hash = $1 AND c.investor_id = $3 AND p.investor_id = $2 FOR UPDATE OF c`,
    [txHash, from, to],
  );

export interface AffiliationRow { investor_id: string; since: Date; until: Date | null; reason: string; recorded_by: string; recorded_at: Date }

export const affiliationsOf = (q: Queryable, investorIds: readonly string[]) =>
  q.query<AffiliationRow>('SELECT * FROM issuer_affiliations WHERE investor_id = ANY($1::text[]) ORDER BY investor_id, since', [investorIds]);

/** Records (or, for the same start, re-dates) a period during which the investor is an affiliate of the issuer. */
export async function upsertAffiliation(q: Queryable, a: Omit<AffiliationRow, 'recorded_at'>): Promise<AffiliationRow> {
  const [r] = await q.query<AffiliationRow>(
    `INSERT INTO issuer_affiliations (investor_id, since, until, reason, recorded_by) VALUES ($1,$2,$3,$4,$5)
     ON CONFLICT (investor_id, since) DO UPDATE SET until = $3, reason = $4, recorded_by = $5, recorded_at = now() RETURNING *`,
    [a.investor_id, a.since, a.until, a.reason, a.recorded_by],
  );
  return r;
}

/**
 * Rule 144(e) figures for an affiliate's sale at `at`: what the investor sent
 * to other investors in (at - window, at], and what all investors sent each
 * other in [at - weeks, at). A split's replacement of lots is no sale.
 */
export async function affiliateSales(q: Queryable, tokenId: string, investorId: string, at: Date, window: Period, weeks: number): Promise<AffiliateSales> {
  const since = addPeriod(at, { months: -(window.months ?? 0), days: -(window.days ?? 0) });
  const [r] = await q.query<{ sold: string; volume: string }>(
    `SELECT
       (SELECT coalesce(sum(c.amount), 0) FROM lot_consumptions c JOIN lots l ON l.id = c.lot_id
        WHERE l.token_id = $1 AND l.investor_id = $2 AND c.at > $3 AND c.at <= $4 AND c.tx_hash NOT LIKE 'split:%') AS sold,
       (SELECT coalesce(sum(c.amount), 0) FROM lot_consumptions c JOIN lots l ON l.id = c.lot_id
        WHERE l.token_id = $1 AND c.at >= $5 AND c.at < $4 AND c.tx_hash NOT LIKE 'split:%') AS volume`,
    [tokenId, investorId, since, at, addPeriod(at, { days: -7 * weeks })],
  );
  return { soldInWindow: BigInt(r.sold), recentVolume: BigInt(r.volume) };
}

export interface CountsRow { total: number; non_accredited: number; us_persons: number }

export const walletsOf = (q: Queryable, investorIds: readonly string[]) =>
  q.query<WalletRow>('SELECT * FROM investor_wallets WHERE investor_id = ANY($1::text[]) ORDER BY added_at, address', [investorIds]);

export async function walletOwner(q: Queryable, address: string): Promise<WalletRow | undefined> {
  const [w] = await q.query<WalletRow>('SELECT * FROM investor_wallets WHERE lower(address) = lower($1)', [address]);
  return w;
}

export async function controlsOf(q: Queryable, tokenId: string, investorId: string): Promise<ControlsRow> {
  const [c] = await controlsOfMany(q, [{ tokenId, investorId }]);
  return c;
}

export async function upsertControls(q: Queryable, tokenId: string, investorId: string, set: Partial<Pick<ControlsRow, 'wallet_frozen' | 'frozen_amount' | 'liquidate_only'>>) {
  const cur = await controlsOf(q, tokenId, investorId);
  const next = { ...cur, ...set };
  await q.query(
    `INSERT INTO investor_controls (token_id, investor_id, wallet_frozen, frozen_amount, liquidate_only) VALUES ($1,$2,$3,$4,$5)
     ON CONFLICT (token_id, investor_id) DO UPDATE SET wallet_frozen = $3, frozen_amount = $4, liquidate_only = $5`,
    [tokenId, investorId, next.wallet_frozen, next.frozen_amount, next.liquidate_only],
  );
}

/** A token's lots booked by `asOf`, each with what it held then (what consumed it after is added back). */
export const lotsAsOf = (q: Queryable, tokenId: string, asOf: Date) => q.query<{
  id: string; investor_id: string; amount: string; acquired_at: Date; holding_period_start: Date; restricted: boolean; source: string; tx_hash: string | null; held: string;
}>(
  `SELECT l.id, l.investor_id, l.amount, l.acquired_at, l.holding_period_start, l.restricted, l.source, l.tx_hash,
          l.amount - coalesce((SELECT sum(c.amount) FROM lot_consumptions c WHERE c.lot_id = l.id AND c.at <= $2), 0) AS held
   FROM lots l WHERE l.token_id = $1 AND coalesce(l.booked_at, l.acquired_at) <= $2
   ORDER BY l.investor_id, l.holding_period_start, l.id`,
  [tokenId, asOf],
);

export const lotsOfToken = (q: Queryable, tokenId: string) =>
  q.query<LotRow>('SELECT * FROM lots WHERE token_id = $1 ORDER BY investor_id, holding_period_start, id', [tokenId]);

export const positionsOfToken = (q: Queryable, tokenId: string) =>
  q.query<{ investor_id: string; balance: string }>('SELECT investor_id, balance FROM positions WHERE token_id = $1 AND balance > 0 ORDER BY investor_id', [tokenId]);

/** Purchases in [since, until]: a decision as of an instant never counts what came after it. */
export async function purchasesBetween(q: Queryable, investorId: string, exemptions: string[], since: Date, until: Date) {
  return q.query<{ at: Date; amount_cents: string; exemption: string; token_id: string }>(
    'SELECT at, amount_cents, exemption, token_id FROM purchases WHERE investor_id = $1 AND exemption = ANY($2::text[]) AND at >= $3 AND at <= $4 ORDER BY at',
    [investorId, exemptions, since, until],
  );
}

/** The offering's non-accredited purchasers up to an instant (a short scan: the 506(b) cap keeps them few). */
export async function nonAccreditedPurchasers(q: Queryable, tokenId: string, investorId: string, until: Date) {
  const [r] = await q.query<{ n: string }>(
    'SELECT count(DISTINCT investor_id) AS n FROM purchases WHERE token_id = $1 AND NOT accredited AND at <= $2',
    [tokenId, until],
  );
  const [mine] = await q.query('SELECT 1 FROM purchases WHERE token_id = $1 AND investor_id = $2 AND at <= $3 LIMIT 1', [tokenId, investorId, until]);
  return { nonAccreditedPurchasers: Number(r.n), receiverAlreadyPurchased: !!mine };
}

/**
 * Moves holders whose accreditation stopped counting (expired, or the default
 * validity ran out) into the non-accredited count, so that the counters and
 * the engine's view of each holder agree. Runs with the lapse sweep.
 */
export async function reclassifyLapsedAccreditation(q: Queryable, validity: { months?: number; days?: number }): Promise<number> {
  const lapsed = await q.query<{ token_id: string; investor_id: string }>(
    `UPDATE positions p SET counted_accredited = false FROM investors i
     WHERE p.investor_id = i.id AND p.counted_accredited AND p.balance > 0
       AND NOT (coalesce(i.accredited, false) AND i.accreditation_verified_at IS NOT NULL
                AND coalesce(i.accreditation_expires_at, i.accreditation_verified_at + make_interval(months => $1, days => $2)) > now())
     RETURNING p.token_id, p.investor_id`,
    [validity.months ?? 0, validity.days ?? 0],
  );
  for (const l of lapsed) await q.query('UPDATE holder_counts SET non_accredited = non_accredited + 1 WHERE token_id = $1', [l.token_id]);
  return lapsed.length;
}

/** What a wallet's locks on chain are computed from (chain/rules.ts locksFor): the investor's open lots of the token. */
export interface LockableLot { remaining: string; holding_period_start: Date; issued_at: Date; restricted: boolean }
export const lockableLots = (q: Queryable, tokenId: string, investorId: string) => q.query<LockableLot>(
  'SELECT remaining, holding_period_start, issued_at, restricted FROM lots WHERE token_id = $1 AND investor_id = $2 AND remaining > 0',
  [tokenId, investorId],
);

/**
 * Counts the investor's holdings by its accreditation in effect now (`accredited`): the positions
 * counted otherwise move between the holder counters' buckets.
 */
export async function recountAccreditation(q: Queryable, investorId: string, accredited: boolean): Promise<void> {
  const moved = await q.query<{ token_id: string }>(
    'UPDATE positions SET counted_accredited = $2 WHERE investor_id = $1 AND balance > 0 AND counted_accredited <> $2 RETURNING token_id',
    [investorId, accredited],
  );
  for (const m of moved) await q.query('UPDATE holder_counts SET non_accredited = non_accredited + $2 WHERE token_id = $1', [m.token_id, accredited ? -1 : 1]);
}

export async function insertWallet(q: Queryable, address: string, investorId: string): Promise<void> {
  await q.query('INSERT INTO investor_wallets (address, investor_id) VALUES ($1, $2)', [address, investorId]);
}

/** Links a recovery's new wallet before anything moves; a wallet linked already stays as it is. */
export async function insertWalletIfNew(q: Queryable, address: string, investorId: string): Promise<void> {
  await q.query('INSERT INTO investor_wallets (address, investor_id) VALUES ($1, $2) ON CONFLICT (address) DO NOTHING', [address, investorId]);
}

export async function markWalletLost(q: Queryable, address: string): Promise<void> {
  await q.query(`UPDATE investor_wallets SET status = 'LOST' WHERE address = $1`, [address]);
}

/** The recovered wallet, active (registered on chain if it is or the recovery moved tokens to it). */
export async function activateWallet(q: Queryable, address: string, investorId: string, registeredOnChain: boolean): Promise<void> {
  await q.query(
    `INSERT INTO investor_wallets (address, investor_id, registered_on_chain) VALUES ($1, $2, $3)
     ON CONFLICT (address) DO UPDATE SET status = 'ACTIVE', registered_on_chain = investor_wallets.registered_on_chain OR $3`,
    [address, investorId, registeredOnChain],
  );
}

export async function activeWalletOwner(q: Queryable, address: string): Promise<{ investor_id: string } | undefined> {
  const [owner] = await q.query<{ investor_id: string }>(
    "SELECT investor_id FROM investor_wallets WHERE lower(address) = lower($1) AND status = 'ACTIVE'", [address],
  );
  return owner;
}

/** A received lot's origin derived again (a transfer's occasion recorded after the indexer wrote the lot). */
export async function setLotOrigin(q: Queryable, lotId: string, o: { holdingPeriodStart: Date; issuedAt: Date; restricted: boolean }): Promise<void> {
  await q.query('UPDATE lots SET holding_period_start = $2, issued_at = $3, restricted = $4 WHERE id = $1',
    [lotId, o.holdingPeriodStart, o.issuedAt, o.restricted]);
}
