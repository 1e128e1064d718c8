import type { SnapshotRequest } from '../../subgraphs/issuance/snapshot.js';
/**
 * Dated compliance scenarios written straight into the issuance tables, then
 * asked through `transferEligibility` (the same snapshot read and engine the
 * subgraph uses). No GraphQL, no chain: a scenario is the rows the service
 * and the indexer would have left behind, chosen so that each rule can be
 * put on its exact boundary.
 *
 * Defaults are the engine fixtures' plain case: an accredited U.S.
 * individual with KYC approved on 2025-01-10 (valid 12 months), screened
 * clear on 2025-06-01 (relied on for 30 days) and verified accredited by a
 * third-party letter on 2025-05-01 (90 days), all valid at AT.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { migrate, type Db, type Queryable } from '../../subgraphs/kit/db/index.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import {
  defaultComplianceConfig, type AccreditationMethod, type AmlStatus, type ComplianceConfig, type Exemption, type InvestorType,
  type IssuerRelation, type KycStatus, type RuleCode, type RuleResult, type TransferKind, type TransferOccasion,
} from '../../subgraphs/issuance/domain/compliance/index.js';
import { transferEligibility, type EligibilityResult } from '../../subgraphs/issuance/eligibility.js';
import type { PolicyJson, TokenRow } from '../../subgraphs/issuance/store/tokens.js';
import { applyRange, applyTransfers } from '../../subgraphs/issuance/chain/range.js';
import { recordOccasion } from '../../subgraphs/issuance/occasions.js';
import { getAddress, id as keccakId, toBeHex, zeroPadValue, type Log } from 'ethers';

const TRANSFER_TOPIC = keccakId('Transfer(address,address,uint256)');
import { openTestDb } from '../support/db.js';

export const ISSUANCE_MIGRATIONS = [
  { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
  { scope: 'issuance', dir: fromRoot('subgraphs', 'issuance', 'migrations') },
];

/** A fresh database (PGlite, or PostgreSQL under TEST_DATABASE_URL) with the issuance schema. */
export async function openIssuanceDb(): Promise<{ db: Db; cleanup(): Promise<void> }> {
  const t = await openTestDb();
  await migrate(t.db, ISSUANCE_MIGRATIONS);
  return { db: t.db, cleanup: t.cleanup };
}

/** Opens a fresh issuance database before the suite's tests and drops it after; read `.db` inside tests. */
export function useIssuanceDb(): { readonly db: Db } {
  const box: { db: Db; cleanup?: () => Promise<void> } = {} as never;
  beforeAll(async () => {
    const opened = await openIssuanceDb();
    box.db = opened.db;
    box.cleanup = opened.cleanup;
  });
  afterAll(async () => {
    await box.cleanup?.();
  });
  return box;
}

type When = Date | string;

/** '2025-06-15' is midnight UTC; a full ISO instant is taken as is. */
export const utc = (iso: string): Date => new Date(iso.includes('T') ? iso : `${iso}T00:00:00.000Z`);
const date = (w: When): Date => (typeof w === 'string' ? utc(w) : w);
const dateOrNull = (w: When | null | undefined): Date | null => (w === null || w === undefined ? null : date(w));

/** The instant most scenarios are evaluated at. */
export const AT = utc('2025-06-15T12:00:00Z');
/** `ms` milliseconds after (or before, when negative) an instant. */
export const shift = (d: Date, ms: number): Date => new Date(d.getTime() + ms);
export const JUST_BEFORE = (d: Date): Date => shift(d, -1);

export interface TokenSpec {
  exemption: Exemption;
  decimals?: number;
  /** Exchange Act reporting since (Rule 144 6-month period after 90 days; Reg S Category 3 reporting issuer). */
  reportingSince?: When | null;
  regS?: { category: 'CATEGORY_1' | 'CATEGORY_2' | 'CATEGORY_3'; securityType: 'EQUITY' | 'DEBT'; domesticIssuer?: boolean; periodStart: When };
  listedOnNationalExchange?: boolean;
  policy?: PolicyJson;
  paused?: boolean;
  /** Supply held outside the scenario's named holders (added to what they hold). */
  otherSupply?: bigint;
}

export interface InvestorSpec {
  type?: InvestorType;
  jurisdiction?: string;
  /** Default: jurisdiction is US. */
  usPerson?: boolean;
  kyc?: { status?: KycStatus; approvedAt?: When | null; expiresAt?: When | null };
  aml?: { status?: AmlStatus; screenedAt?: When | null };
  /** null: no accreditation on record. */
  accreditation?: { accredited?: boolean; method?: AccreditationMethod; verifiedAt?: When; expiresAt?: When | null } | null;
  issuerRelation?: IssuerRelation;
  annualIncomeCents?: bigint | null;
  netWorthCents?: bigint | null;
}

/** A non-accredited individual below the Reg CF threshold: $60,000 income, $80,000 net worth. */
export const NON_ACCREDITED: InvestorSpec = { accreditation: null, annualIncomeCents: 60_000_00n, netWorthCents: 80_000_00n };

export interface LotSpec {
  amount: bigint;
  /** Default: the whole amount. */
  remaining?: bigint;
  acquired: When;
  /** Default: acquired (Rule 144 tacking sets it earlier). */
  holdingPeriodStart?: When;
  /** Default: the holding period start (Reg CF's year runs from here). */
  issued?: When;
}

export interface Controls {
  walletFrozen?: boolean;
  frozenAmount?: bigint;
  liquidateOnly?: boolean;
}

export interface Counts {
  total: number;
  nonAccredited: number;
  usPersons: number;
}

/** A Transfer between named investors (chainRange). */
export interface RangeTransfer { from: string; to: string; amount: bigint; at: Date; occasion?: TransferOccasion }

export interface Ask {
  /** A named investor, or null for a primary issuance. */
  from: string | null;
  to: string;
  amount: bigint;
  at?: Date;
  kind?: TransferKind;
  priceCents?: bigint;
  occasion?: SnapshotRequest['occasion'];
  receiverRelation?: SnapshotRequest['receiverRelation'];
}

let serial = 0;
const next = (): number => ++serial;
const ORG = 'issuer-co';

/** One token and the investors around it, each written as rows. */
export class Scenario {
  /** Named investors' ids. */
  readonly ids: Record<string, string> = {};
  private readonly accreditedFlag = new Map<string, boolean>();
  private readonly usFlag = new Map<string, boolean>();
  private readonly balances = new Map<string, bigint>();

  private constructor(readonly db: Db, readonly tokenId: string, readonly exemption: Exemption, readonly config: ComplianceConfig) {}

  static async create(db: Db, spec: TokenSpec, config: ComplianceConfig = defaultComplianceConfig): Promise<Scenario> {
    const tokenId = await insertToken(db, spec);
    return new Scenario(db, tokenId, spec.exemption, config);
  }

  /** Another issuer's token (for purchases that count across offerings, or controls that must not leak). */
  otherToken(spec: TokenSpec): Promise<string> {
    return insertToken(this.db, spec);
  }

  async investor(name: string, spec: InvestorSpec = {}): Promise<string> {
    if (this.ids[name]) throw new Error(`investor ${name} already exists in this scenario`);
    const id = `inv_${next()}_${name}`;
    const jurisdiction = spec.jurisdiction ?? 'US';
    const usPerson = spec.usPerson ?? jurisdiction === 'US';
    const kyc = { status: 'APPROVED' as KycStatus, approvedAt: '2025-01-10' as When | null, expiresAt: null as When | null, ...spec.kyc };
    const aml = { status: 'CLEAR' as AmlStatus, screenedAt: '2025-06-01' as When | null, ...spec.aml };
    const acc = spec.accreditation === null
      ? null
      : { accredited: true, method: 'THIRD_PARTY_LETTER' as AccreditationMethod, verifiedAt: '2025-05-01' as When, expiresAt: null as When | null, ...spec.accreditation };
    const income = spec.annualIncomeCents === undefined ? 300_000_00n : spec.annualIncomeCents;
    const netWorth = spec.netWorthCents === undefined ? 2_000_000_00n : spec.netWorthCents;
    await this.db.query(
      `INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash,
         kyc_status, kyc_approved_at, kyc_expires_at, aml_status, aml_screened_at,
         accredited, accreditation_method, accreditation_verified_at, accreditation_expires_at,
         issuer_relation, annual_income_cents, net_worth_cents)
       VALUES ($1,$2,$3,$4,$5,$6,$1,'test',$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
      [id, ORG, `Investor ${name}`, spec.type ?? 'INDIVIDUAL', jurisdiction, usPerson,
        kyc.status, dateOrNull(kyc.approvedAt), dateOrNull(kyc.expiresAt), aml.status, dateOrNull(aml.screenedAt),
        acc ? acc.accredited : null, acc ? acc.method : null, acc ? date(acc.verifiedAt) : null, acc ? dateOrNull(acc.expiresAt) : null,
        spec.issuerRelation ?? 'NONE', income === null ? null : income.toString(), netWorth === null ? null : netWorth.toString()],
    );
    this.ids[name] = id;
    this.accreditedFlag.set(name, acc?.accredited === true);
    this.usFlag.set(name, usPerson);
    return id;
  }

  /**
   * Gives a named investor lots of this token: the lots, its position (the
   * lots' remaining amounts unless `balance` says otherwise), the token's
   * supply and, as the indexer does, the holder counters when it becomes a holder.
   */
  async holds(name: string, lots: LotSpec[], opts: { balance?: bigint } & Controls = {}): Promise<void> {
    const investorId = this.idOf(name);
    for (const l of lots) {
      const acquired = date(l.acquired);
      const start = l.holdingPeriodStart ? date(l.holdingPeriodStart) : acquired;
      await this.db.query(
        `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, source)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'ISSUANCE')`,
        [`lot_${next()}`, this.tokenId, investorId, l.amount.toString(), (l.remaining ?? l.amount).toString(), acquired, start, l.issued ? date(l.issued) : start],
      );
    }
    const added = opts.balance ?? lots.reduce((s, l) => s + (l.remaining ?? l.amount), 0n);
    await this.position(name, (this.balances.get(name) ?? 0n) + added);
    const { balance: _b, ...controls } = opts;
    if (Object.keys(controls).length) await this.controls(name, controls);
  }

  /** Sets a named investor's position, keeping supply and holder counters in step (as the indexer does). */
  async position(name: string, balance: bigint): Promise<void> {
    const investorId = this.idOf(name);
    const old = this.balances.get(name) ?? 0n;
    await this.db.query(
      `INSERT INTO positions (token_id, investor_id, balance, counted_accredited, counted_us) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (token_id, investor_id) DO UPDATE SET balance = $3`,
      [this.tokenId, investorId, balance.toString(), this.accreditedFlag.get(name) === true, this.usFlag.get(name) === true],
    );
    await this.db.query('UPDATE security_tokens SET total_supply = total_supply + $2 WHERE id = $1', [this.tokenId, (balance - old).toString()]);
    const step = old === 0n && balance > 0n ? 1 : old > 0n && balance === 0n ? -1 : 0;
    if (step) {
      await this.db.query(
        'UPDATE holder_counts SET total = total + $2, non_accredited = non_accredited + $3, us_persons = us_persons + $4 WHERE token_id = $1',
        [this.tokenId, step, this.accreditedFlag.get(name) ? 0 : step, this.usFlag.get(name) ? step : 0],
      );
    }
    this.balances.set(name, balance);
  }

  /** The issuer's controls on a named investor, for this token or another one. */
  async controls(name: string, c: Controls, tokenId = this.tokenId): Promise<void> {
    await this.db.query(
      `INSERT INTO investor_controls (token_id, investor_id, wallet_frozen, frozen_amount, liquidate_only) VALUES ($1,$2,$3,$4,$5)
       ON CONFLICT (token_id, investor_id) DO UPDATE SET wallet_frozen = $3, frozen_amount = $4, liquidate_only = $5`,
      [tokenId, this.idOf(name), c.walletFrozen ?? false, (c.frozenAmount ?? 0n).toString(), c.liquidateOnly ?? false],
    );
  }

  /** Overwrites the token's holder counters (the population beyond the named investors). */
  async holderCounts(c: Counts): Promise<void> {
    await this.db.query('UPDATE holder_counts SET total = $2, non_accredited = $3, us_persons = $4 WHERE token_id = $1',
      [this.tokenId, c.total, c.nonAccredited, c.usPersons]);
  }

  async setToken(set: { paused?: boolean }): Promise<void> {
    if (set.paused !== undefined) await this.db.query('UPDATE security_tokens SET paused = $2 WHERE id = $1', [this.tokenId, set.paused]);
  }

  /** A completed primary purchase by a named investor (this token unless another is given), as issueTokens records it. */
  async purchase(name: string, p: { amountCents: bigint; at: When; accredited?: boolean; tokenId?: string; exemption?: Exemption }): Promise<void> {
    const tokenId = p.tokenId ?? this.tokenId;
    const [t] = await this.db.query<{ exemption: Exemption }>('SELECT exemption FROM security_tokens WHERE id = $1', [tokenId]);
    await recordPurchase(this.db, {
      tokenId, investorId: this.idOf(name), exemption: p.exemption ?? t.exemption,
      accredited: p.accredited ?? this.accreditedFlag.get(name) === true, amountCents: p.amountCents, at: date(p.at),
    });
  }

  /** `count` anonymous investors, each with one purchase in this token (506(b) purchaser counts). */
  async purchasers(count: number, p: { accredited: boolean; at: When; amountCents?: bigint }): Promise<void> {
    const prefix = `inv_${next()}_purchaser_`;
    await this.db.query(
      `INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash, kyc_status, aml_status, accredited)
       SELECT $1 || g, $2, 'Purchaser ' || g, 'INDIVIDUAL', 'US', true, $1 || g, 'test', 'APPROVED', 'CLEAR', $3
       FROM generate_series(1, $4::int) g`,
      [prefix, ORG, p.accredited, count],
    );
    await this.db.query(
      `INSERT INTO issuances (id, token_id, investor_id, wallet, amount, price_cents, acquired_at, status, org, idempotency_key, request_hash)
       SELECT 'iss_' || $1 || g, $2, $1 || g, '0x0', 1, $3, $4, 'DONE', $5, 'iss_' || $1 || g, 'test' FROM generate_series(1, $6::int) g`,
      [prefix, this.tokenId, (p.amountCents ?? 1_000_00n).toString(), date(p.at), ORG, count],
    );
    await this.db.query(
      `INSERT INTO purchases (issuance_id, token_id, investor_id, exemption, accredited, amount_cents, at)
       SELECT 'iss_' || $1 || g, $2, $1 || g, $3, $4, $5, $6 FROM generate_series(1, $7::int) g`,
      [prefix, this.tokenId, this.exemption, p.accredited, (p.amountCents ?? 1_000_00n).toString(), date(p.at), count],
    );
  }

  /** Asks transferEligibility; a named sender makes it a secondary trade unless `kind` says otherwise. */
  check(a: Ask): Promise<EligibilityResult> {
    return transferEligibility(this.db, this.config, {
      tokenId: this.tokenId,
      fromInvestorId: a.from === null ? null : this.idOf(a.from),
      toInvestorId: this.idOf(a.to),
      amount: a.amount,
      at: a.at ?? AT,
      kind: a.kind ?? (a.from === null ? 'PRIMARY_ISSUANCE' : 'SECONDARY_TRADE'),
      ...(a.priceCents !== undefined && { priceCents: a.priceCents }),
      occasion: a.occasion,
      receiverRelation: a.receiverRelation,
    });
  }

  /**
   * A Transfer of this token between two named investors at `at`, applied
   * by the holdings indexer's own function (as if read from the chain):
   * holdings, positions, counters and lots move as they would on a trade.
   */
  async chainTransfer(from: string, to: string, amount: bigint, at: Date, o: { occasion?: TransferOccasion } = {}): Promise<string> {
    return (await this.chainRange([{ from, to, amount, at, ...o }])).txHashes[0];
  }

  /**
   * Transfers between named investors read from the chain in one range, each
   * in its own transaction and block, in the order given (each named investor
   * has one wallet in the range), applied by the holdings indexer in one go.
   * With `indexed`, as the indexer's range (the token is then indexed through
   * its last block); `apply` applies the same logs again.
   */
  async chainRange(transfers: readonly RangeTransfer[], o: { indexed?: boolean } = {}): Promise<{ txHashes: string[]; apply(): Promise<void> }> {
    const n = next();
    const names = [...new Set(transfers.flatMap((x) => [x.from, x.to]))];
    const addressOf = new Map(names.map((name) => [name, getAddress(`0x${(n * 1000 + Object.keys(this.ids).indexOf(name) + 1).toString(16).padStart(40, '0')}`)]));
    for (const [name, address] of addressOf) {
      await this.db.query('INSERT INTO investor_wallets (address, investor_id) VALUES ($1,$2) ON CONFLICT DO NOTHING', [address, this.idOf(name)]);
    }
    // Each sender's wallet holds its position, as the indexer would have recorded it.
    for (const name of new Set(transfers.map((x) => x.from))) {
      await this.db.query('INSERT INTO holdings (token_id, address, investor_id, balance, block) VALUES ($1,$2,$3,$4,0)', [this.tokenId, addressOf.get(name), this.idOf(name), (this.balances.get(name) ?? 0n).toString()]);
    }
    const logs: Log[] = [];
    const times = new Map<number, Date>();
    for (const x of transfers) {
      const block = next();
      const txHash = `0x${block.toString(16).padStart(64, '0')}`;
      // The transfer agent recorded the occasion before the indexer saw the transaction.
      if (x.occasion) await this.recordOccasion(txHash, x.from, x.to, x.occasion);
      logs.push({
        topics: [TRANSFER_TOPIC, zeroPadValue(addressOf.get(x.from)!, 32), zeroPadValue(addressOf.get(x.to)!, 32)], data: toBeHex(x.amount, 32),
        transactionHash: txHash, index: 0, blockNumber: block,
      } as unknown as Log);
      times.set(block, x.at);
    }
    const [t] = await this.db.query<TokenRow>('SELECT * FROM security_tokens WHERE id = $1', [this.tokenId]);
    const to = logs[logs.length - 1].blockNumber;
    const apply = () => this.db.tx((q) => (o.indexed ? applyRange(q, t, logs, { to, times }, this.config) : applyTransfers(q, t, logs, times, this.config)));
    await apply();
    await this.db.query('DELETE FROM holdings WHERE token_id = $1 AND address = ANY($2::text[])', [this.tokenId, [...addressOf.values()]]);
    for (const x of transfers) {
      this.balances.set(x.from, (this.balances.get(x.from) ?? 0n) - x.amount);
      this.balances.set(x.to, (this.balances.get(x.to) ?? 0n) + x.amount);
    }
    return { txHashes: logs.map((l) => l.transactionHash), apply };
  }

  /** Records why a transaction's tokens moved, as forcedTransfer does. */
  recordOccasion(txHash: string, from: string, to: string, occasion: TransferOccasion): Promise<void> {
    return this.db.tx((q) => recordOccasion(q, this.config, { tokenId: this.tokenId, txHash, from: this.idOf(from), to: this.idOf(to), occasion, recordedBy: 'transfer-agent' }));
  }

  /** A period during which a named investor is an affiliate of the issuer, as recordAffiliation writes it. */
  async affiliate(name: string, since: When, until: When | null = null): Promise<void> {
    await this.db.query('INSERT INTO issuer_affiliations (investor_id, since, until, reason, recorded_by) VALUES ($1,$2,$3,$4,$5)',
      [this.idOf(name), date(since), dateOrNull(until), 'board seat', 'test']);
  }

  /** The named investor's open lots, oldest holding period first. */
  lots(name: string) {
    return this.db.query<{ remaining: string; holding_period_start: Date; issued_at: Date; restricted: boolean; parent_lot_id: string | null }>(
      'SELECT remaining, holding_period_start, issued_at, restricted, parent_lot_id FROM lots WHERE token_id = $1 AND investor_id = $2 AND remaining > 0 ORDER BY holding_period_start, id',
      [this.tokenId, this.idOf(name)],
    );
  }

  /** One rule's result; throws when it was not reported, so a test cannot pass by its absence. */
  async rule(code: RuleCode, a: Ask): Promise<RuleResult> {
    return resultOf(await this.check(a), code);
  }

  idOf(name: string): string {
    const id = this.ids[name];
    if (!id) throw new Error(`no investor named ${name} in this scenario`);
    return id;
  }
}

export function resultOf(e: EligibilityResult, code: RuleCode): RuleResult {
  const r = e.results.find((x) => x.code === code);
  if (!r) throw new Error(`${code} was not reported (not applicable: ${e.notApplicable.join(', ')})`);
  return r;
}

export const failedCodes = (e: EligibilityResult): RuleCode[] => e.results.filter((r) => !r.passed).map((r) => r.code);

async function insertToken(q: Queryable, spec: TokenSpec): Promise<string> {
  const n = next();
  const id = `tok_${n}`;
  const regS = spec.regS
    ? JSON.stringify({
        category: spec.regS.category,
        securityType: spec.regS.securityType,
        domesticIssuer: spec.regS.domesticIssuer ?? false,
        distributionCompliancePeriodStart: date(spec.regS.periodStart).toISOString(),
      })
    : null;
  await q.query(
    `INSERT INTO security_tokens (id, issuer_org, name, symbol, decimals, exemption, status, total_supply, idempotency_key, request_hash,
       issuer_reporting_since, reg_s, listed_on_national_exchange, policy, paused)
     VALUES ($1,$2,$3,$4,$5,$6,'DEPLOYED',$7,$1,'test',$8,$9,$10,$11,$12)`,
    [id, ORG, `Token ${n}`, `T${n}`, spec.decimals ?? 0, spec.exemption, (spec.otherSupply ?? 0n).toString(),
      dateOrNull(spec.reportingSince), regS, spec.listedOnNationalExchange ?? false, JSON.stringify(spec.policy ?? {}), spec.paused ?? false],
  );
  await q.query('INSERT INTO holder_counts (token_id) VALUES ($1)', [id]);
  return id;
}

async function recordPurchase(q: Queryable, p: { tokenId: string; investorId: string; exemption: Exemption; accredited: boolean; amountCents: bigint; at: Date }) {
  const issuanceId = `iss_${next()}`;
  await q.query(
    `INSERT INTO issuances (id, token_id, investor_id, wallet, amount, price_cents, acquired_at, status, org, idempotency_key, request_hash)
     VALUES ($1,$2,$3,'0x0',1,$4,$5,'DONE',$6,$1,'test')`,
    [issuanceId, p.tokenId, p.investorId, p.amountCents.toString(), p.at, ORG],
  );
  await q.query(
    'INSERT INTO purchases (issuance_id, token_id, investor_id, exemption, accredited, amount_cents, at) VALUES ($1,$2,$3,$4,$5,$6,$7)',
    [issuanceId, p.tokenId, p.investorId, p.exemption, p.accredited, p.amountCents.toString(), p.at],
  );
}
