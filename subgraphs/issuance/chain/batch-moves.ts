/**
 * The agent's batched mints and burns of a corporate action (a split's moves, a redemption's burns).
 * What to send is computed by the caller from balances read on chain just before, so a retry after a
 * crash sends only what is still missing; the hashes sent are handed to `record` even when a later
 * batch fails, so the action keeps every transaction it made.
 */
import { getAddress } from 'ethers';
import { chainFailure } from './runtime.js';
import type { TokenSuite } from './trex.js';

export type Move = [address: string, amount: bigint];

/** Balances on chain of each address, in order: `group` reads at a time, concurrently (one round trip per group, not per wallet). */
export async function balancesOf(suite: TokenSuite, addresses: readonly string[], group: number): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let i = 0; i < addresses.length; i += group) {
    out.push(...(await Promise.all(addresses.slice(i, i + group).map((a) => suite.client.read<bigint>(suite.token.balanceOf(getAddress(a)))))));
  }
  return out;
}

/** Sends the mints then the burns, `batchSize` wallets per batchMint / batchBurn; returns the hashes sent. */
export async function sendMoves(
  suite: TokenSuite, moves: { mints?: readonly Move[]; burns?: readonly Move[] }, batchSize: number, what: string, record: (hashes: string[]) => Promise<unknown>,
): Promise<string[]> {
  const sent: string[] = [];
  try {
    for (const [kind, list] of [['mint', moves.mints ?? []], ['burn', moves.burns ?? []]] as const) {
      for (let i = 0; i < list.length; i += batchSize) {
        const batch = list.slice(i, i + batchSize);
        const [to, amounts] = [batch.map((b) => getAddress(b[0])), batch.map((b) => b[1])];
        sent.push((await suite.client.send(kind === 'mint' ? suite.token.batchMint(to, amounts) : suite.token.batchBurn(to, amounts))).hash);
      }
    }
  } catch (e) {
    throw chainFailure(e, what);
  } finally {
    if (sent.length) await record(sent);
  }
  return sent;
}
