import { peerCalls } from '../kit/contracts/calls.js';
import type { InternalClient } from '../kit/internal.js';
import type { Refusal } from './domain/policy.js';
import type { SweepDeps } from './sweep-mover.js';

/**
 * The calls custody makes, all to issuance (the owner of investors, tokens
 * and their rules): whether an investor exists, whether a security token may
 * leave custody (eligibility, below), and the ERC-3643 recovery of a swept
 * wallet's security tokens.
 */
export interface IssuancePeer {
  eligibility: TransferEligibility;
  investorExists: InvestorLookup;
  recoverTokens: SweepDeps['recoverTokens'];
}

export function issuancePeer(client: InternalClient): IssuancePeer {
  const typed = peerCalls(client, 'issuance');
  return {
    eligibility: issuanceEligibility(client),
    investorExists: (investorId) => client.call<{ id: string } | null>('investor', { investorId }),
    recoverTokens: (r) => typed.call('recoverSweptWallet', r),
  };
}

/** Asks issuance, the owner of investors, whether one exists (null if not). */
export type InvestorLookup = (investorId: string) => Promise<{ id: string } | null>;

/**
 * Whether issuance allows a security token to move from a custody wallet to
 * an outside address (KYC of the receiver, lock-ups, holder caps...). Asked
 * before a security-token withdrawal is accepted; fails closed.
 */
export interface EligibilityQuery {
  tokenId: string;
  fromInvestorId: string;
  fromAccountId: string;
  fromAddress: string;
  toAddress: string;
  amount: bigint;
}

export interface EligibilityAnswer {
  eligible: boolean;
  /** Every failed rule when not eligible. */
  reasons: Refusal[];
}

export interface TransferEligibility {
  check(q: EligibilityQuery): Promise<EligibilityAnswer>;
}

/** What issuance's transferEligibility answers (its TransferEvaluation): every rule, passed or not. */
interface IssuanceAnswer {
  allowed?: unknown;
  results?: { code?: unknown; message?: unknown; passed?: unknown }[];
}

/**
 * Asks issuance over internal RPC: POST /internal/rpc/transferEligibility with
 * { tokenId, fromInvestorId, fromAddress, toAddress, amount, kind: "WITHDRAWAL" },
 * expecting issuance's evaluation { allowed, results: [{ code, passed, message, ... }] }.
 *
 * Issuance resolves toAddress to the investor whose verified wallet it is
 * (an unknown address is refused, as the token's identity registry would),
 * and treats a move to the sender's own other wallet as no change of owner.
 * Whenever issuance cannot answer, or answers something unreadable, the
 * withdrawal is refused with CUSTODY.ELIGIBILITY_UNAVAILABLE: fail closed.
 */
export function issuanceEligibility(issuance: { call<T>(method: string, body: Record<string, unknown>): Promise<T> }): TransferEligibility {
  return {
    async check(q) {
      let a: IssuanceAnswer;
      try {
        a = await issuance.call<IssuanceAnswer>('transferEligibility', {
          tokenId: q.tokenId, fromInvestorId: q.fromInvestorId, fromAddress: q.fromAddress, toAddress: q.toAddress,
          amount: q.amount.toString(), kind: 'WITHDRAWAL',
        });
      } catch (e) {
        return unavailable(`issuance could not answer: ${(e as Error).message}`);
      }
      if (!a || typeof a.allowed !== 'boolean') return unavailable('issuance gave no verdict');
      const failed = (Array.isArray(a.results) ? a.results : []).filter((r) => r && r.passed === false).map((r) => ({
        code: typeof r.code === 'string' ? r.code : 'CUSTODY.TRANSFER_NOT_ELIGIBLE',
        message: typeof r.message === 'string' ? r.message : 'refused by issuance',
      }));
      // Allowed only when issuance says so and lists no failed rule.
      if (a.allowed && failed.length === 0) return { eligible: true, reasons: [] };
      return { eligible: false, reasons: failed.length ? failed : [{ code: 'CUSTODY.TRANSFER_NOT_ELIGIBLE', message: 'issuance refuses this transfer' }] };
    },
  };
}

const unavailable = (message: string): EligibilityAnswer => ({
  eligible: false,
  reasons: [{ code: 'CUSTODY.ELIGIBILITY_UNAVAILABLE', message: `${message}; security-token withdrawals are refused until issuance can confirm eligibility` }],
});
