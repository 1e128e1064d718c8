/**
 * Where a received lot's Rule 144 holding period starts, and whether it is
 * still restricted, given the sender's lot it came from. One function for
 * every way tokens reach an investor after issuance (venue trades, settled
 * external trades, plain on-chain transfers, forced transfers), so that the
 * books, the engine and the on-chain locks follow one model.
 *
 * - From the issuer: a new acquisition, its own period (230.144(d)(1)).
 * - From an affiliate, by sale: a new period from this acquisition
 *   (230.144(d)(1)(i): "from the issuer or from an affiliate of the issuer").
 * - From a non-affiliate: the receiver tacks the seller's period
 *   (230.144(d)(1)(i) runs only from an acquisition from the issuer or an
 *   affiliate); a lot whose period was complete when a non-affiliate resold it
 *   is no longer restricted (230.144(b)(1)).
 * - A gift, an inheritance, a transfer to a family trust or a divorce
 *   settlement (from anyone, affiliates included): the receiver tacks the
 *   giver's period (230.144(d)(3)(v)-(vii); divorce: see README's interpretations).
 *
 * The Reg CF resale year always runs from the original issue (227.501(a)).
 */
import type { ComplianceConfig } from './config.js';
import { isRestrictedSecurity, rule144Maturity } from './rules/rule-144.js';
import type { IssuerRelation, TokenSnapshot, TransferOccasion } from './types.js';

export interface LotOrigin {
  readonly holdingPeriodStart: Date;
  readonly issuedAt: Date;
  /** False once a resale has freed the securities: no holding period applies to them again. */
  readonly restricted: boolean;
}

export interface Receipt {
  /** The instant the receiver acquired the tokens. */
  readonly at: Date;
  /** The sender's relation to the issuer at that instant. */
  readonly senderRelation: IssuerRelation;
  /** Default SALE. */
  readonly occasion?: TransferOccasion;
  readonly token: TokenSnapshot;
}

/** The lot a receiver gets for tokens taken from the sender's lot `source`. */
export function receivedLot(source: LotOrigin, r: Receipt, config: ComplianceConfig): LotOrigin {
  const occasion = r.occasion ?? 'SALE';
  if (!isRestrictedSecurity(r.token)) return { holdingPeriodStart: source.holdingPeriodStart, issuedAt: source.issuedAt, restricted: false };
  if (occasion !== 'SALE') return source;
  if (r.senderRelation === 'ISSUER') return { holdingPeriodStart: r.at, issuedAt: r.at, restricted: true };
  if (r.senderRelation === 'AFFILIATE') return { holdingPeriodStart: r.at, issuedAt: source.issuedAt, restricted: true };
  const freed = !source.restricted || rule144Maturity(source.holdingPeriodStart, r.token, config).getTime() <= r.at.getTime();
  return { holdingPeriodStart: source.holdingPeriodStart, issuedAt: source.issuedAt, restricted: !freed };
}

/** A lot for tokens the books cannot trace to a sender's lot (a mint without an issuance record, or a gap): restricted from now, to stay on the safe side. */
export function untracedLot(at: Date, token: TokenSnapshot): LotOrigin {
  return { holdingPeriodStart: at, issuedAt: at, restricted: isRestrictedSecurity(token) };
}
