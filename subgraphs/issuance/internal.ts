import type { InternalHandler } from '../kit/internal.js';
import { serveCalls } from '../kit/contracts/calls.js';
import { badInput } from '../kit/errors.js';
import { parseAddress, parseBigInt, parseDateTime } from '../kit/scalars.js';
import type { SubgraphRuntime } from '../kit/subgraph.js';
import type { TransferOccasion } from './domain/compliance/index.js';
import { eligibilityMany, kindOf, priceCentsOf, transferEligibility, withdrawalEligibility } from './eligibility.js';
import { addInvestorWallet } from './investors.js';
import type { IssuanceServices } from './services.js';
import { investorFacts } from './store/investors.js';
import { tokenFacts } from './store/tokens.js';
import { recoverSweptWallet } from './swept-wallet.js';

const str = (v: unknown, name: string): string => {
  if (typeof v !== 'string' || !v) throw badInput('INVALID_ARGUMENT', `${name} is required`);
  return v;
};

/**
 * The internal calls issuance serves (service credential only, not in the public schema): the
 * decisions other subgraphs need from the owner of the rules, at decision time (eligibility of a
 * transfer or a withdrawal, one or a list: kit/contracts/calls.ts), the swept wallet's token
 * recovery (custody's sweeps), a custody wallet's registration, and the facts of an investor or a
 * token. `services` gives the running process's services (built when the subgraph starts).
 */
export function internalCalls(rt: SubgraphRuntime, services: () => IssuanceServices): Record<string, InternalHandler> {
  return {
    ...serveCalls('issuance', {
      transferEligibilityMany: async ({ questions }) => ({ answers: await eligibilityMany(rt.db, services().config, questions) }),
      async recoverSweptWallet(request, caller) {
        const s = services();
        const r = await recoverSweptWallet(rt.db, s.chain, caller, request);
        if (r.moved.length) await s.afterChainWrite();
        else s.kick();
        return r;
      },
    }),
    async transferEligibility(body) {
      const s = services();
      if (body.kind === 'WITHDRAWAL') {
        return withdrawalEligibility(rt.db, s.config, {
          tokenId: str(body.tokenId, 'tokenId'), fromInvestorId: str(body.fromInvestorId, 'fromInvestorId'),
          toAddress: parseAddress(str(body.toAddress, 'toAddress')), amount: parseBigInt(str(body.amount, 'amount')), at: new Date(),
        });
      }
      return transferEligibility(rt.db, s.config, {
        tokenId: str(body.tokenId, 'tokenId'),
        // Either party may be absent for a secondary trade (a one-sided question at order entry).
        fromInvestorId: body.fromInvestorId == null ? null : str(body.fromInvestorId, 'fromInvestorId'),
        toInvestorId: body.toInvestorId == null ? null : str(body.toInvestorId, 'toInvestorId'),
        amount: parseBigInt(str(body.amount, 'amount')),
        at: body.at ? parseDateTime(String(body.at)) : new Date(),
        kind: kindOf(body.fromInvestorId as string | null, body.kind as string | null),
        priceCents: priceCentsOf(body.price == null ? null : String(body.price), body.currency == null ? null : String(body.currency)),
        occasion: body.occasion == null ? undefined : (String(body.occasion) as TransferOccasion),
      });
    },
    async registerWallet(body, caller) {
      const s = services();
      const r = await addInvestorWallet(rt.db, caller, { investorId: str(body.investorId, 'investorId'), address: parseAddress(str(body.address, 'address')), reason: String(body.reason ?? 'custody wallet opened') });
      s.kick();
      return { investorId: r.id };
    },
    investor: async (body) => investorFacts(rt.db, str(body.investorId, 'investorId')),
    token: async (body) => tokenFacts(rt.db, str(body.tokenId, 'tokenId')),
  };
}
