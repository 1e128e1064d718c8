import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, MaxUint256, Signature, Wallet, keccak256, parseEther, toUtf8Bytes } from 'ethers';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import { createChainClient, isChainError, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { revertDataReason } from '../../subgraphs/kit/chain/errors.js';
import { DVP_CONSENT_TYPES, dvpDomain } from '../../subgraphs/custody/dvp-signing.js';

/** contracts/TokenstackDvP.sol on anvil: both legs or neither, only with every payer's consent, each batch once. */
describe('the TokenstackDvP contract (anvil)', () => {
  let node: AnvilNode;
  let operator: ChainClient, stranger: ChainClient;
  let dvp: Contract, sec: Contract, cash: Contract;
  let chainId: number;
  const seller = new Wallet('0x' + '51'.repeat(32));
  const buyer = new Wallet('0x' + '52'.repeat(32));
  let n = 0;

  const legs = (q = 10n, c = 500n) => [
    { token: sec.target as string, from: seller.address, to: buyer.address, amount: q },
    { token: cash.target as string, from: buyer.address, to: seller.address, amount: c },
  ];
  const tuple = (ls: ReturnType<typeof legs>) => ls.map((l) => [l.token, l.from, l.to, l.amount]);
  async function consent(w: Pick<Wallet, 'address' | 'signTypedData'>, batchId: string, ls: ReturnType<typeof legs>, o: { nonce?: string; deadline?: number; domain?: ReturnType<typeof dvpDomain> } = {}) {
    const nonces = [o.nonce ?? keccak256(toUtf8Bytes(`n-${++n}`))];
    const deadline = o.deadline ?? Math.floor(Date.now() / 1000) + 600;
    const signature = await w.signTypedData(o.domain ?? dvpDomain(chainId, dvp.target as string), DVP_CONSENT_TYPES, { batchId, legs: ls, nonces, deadline });
    return [w.address, nonces, deadline, signature] as const;
  }
  const batch = () => keccak256(toUtf8Bytes(`batch-${++n}`));
  const settle = (c: ChainClient, id: string, ls: ReturnType<typeof legs>, consents: unknown[]) =>
    c.send((dvp.connect(c.signer) as Contract).settle(id, tuple(ls), consents));
  async function reverts(p: Promise<unknown>, reason: RegExp) {
    const e = await p.then(() => null, (x: unknown) => x);
    expect(isChainError(e, 'CHAIN_REVERTED')).toBe(true);
    expect(String((e as Error).message)).toMatch(reason);
  }
  const balances = async () => [await sec.balanceOf(seller.address), await sec.balanceOf(buyer.address), await cash.balanceOf(seller.address), await cash.balanceOf(buyer.address)];

  beforeAll(async () => {
    node = await startAnvil({ port: 0 });
    operator = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    stranger = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[1] });
    chainId = operator.chainId;
    dvp = await operator.deploy(loadArtifact('TokenstackDvP', 'project'));
    // Two plain ERC-20s stand in for the security token and the cash token here (the full stack uses T-REX).
    sec = (await deployCashToken(operator, { symbol: 'SEC', decimals: 0 })).contract;
    cash = (await deployCashToken(operator)).contract;
    for (const w of [seller, buyer]) {
      await operator.send({ to: w.address, value: parseEther('1') });
      const c = await createChainClient({ rpcUrl: node.url, privateKey: w.privateKey });
      await c.send((sec.connect(c.signer) as Contract).approve(dvp.target, MaxUint256));
      await c.send((cash.connect(c.signer) as Contract).approve(dvp.target, MaxUint256));
      await c.close();
    }
    await operator.send(sec.mint(seller.address, 100n));
    await operator.send(cash.mint(buyer.address, 10_000n));
  }, 120_000);
  afterAll(async () => {
    await operator?.close();
    await stranger?.close();
    await node?.stop();
  });

  test('with both payers\' consents both legs move in one transaction, and the same batch never settles twice', async () => {
    const id = batch();
    const ls = legs();
    const before = await balances();
    const receipt = await settle(operator, id, ls, [await consent(seller, id, ls), await consent(buyer, id, ls)]);
    expect(await balances()).toEqual([before[0] - 10n, before[1] + 10n, before[2] + 500n, before[3] - 500n]);
    expect(await dvp.settledAt(id)).toBe(BigInt(receipt.blockNumber));
    expect((await dvp.queryFilter(dvp.filters.Settled(id))).map((l) => l.transactionHash)).toEqual([receipt.hash]);
    await reverts(settle(operator, id, ls, [await consent(seller, id, ls), await consent(buyer, id, ls)]), /already settled/);
  });

  test('a failing leg undoes the other: neither moves', async () => {
    const id = batch();
    const ls = legs(10n, 1_000_000n); // more cash than the buyer has
    const before = await balances();
    await reverts(settle(operator, id, ls, [await consent(seller, id, ls), await consent(buyer, id, ls)]), /exceeds balance/);
    expect(await balances()).toEqual(before);
    expect(await dvp.settledAt(id)).toBe(0n);
  });

  test('nothing moves without every payer\'s valid consent to exactly this batch', async () => {
    const id = batch();
    const ls = legs();
    const before = await balances();
    await reverts(settle(operator, id, ls, [await consent(seller, id, ls)]), /payer has not consented/);
    // Signed for other legs, another batch, another contract, by another key, expired, or tampered with.
    await reverts(settle(operator, id, ls, [await consent(seller, id, legs(1n, 500n)), await consent(buyer, id, ls)]), /bad consent signature/);
    await reverts(settle(operator, id, ls, [await consent(seller, batch(), ls), await consent(buyer, id, ls)]), /bad consent signature/);
    await reverts(settle(operator, id, ls, [await consent(seller, id, ls, { domain: dvpDomain(chainId, cash.target as string) }), await consent(buyer, id, ls)]), /bad consent signature/);
    const forged = await consent(Wallet.createRandom(), id, ls);
    await reverts(settle(operator, id, ls, [[seller.address, forged[1], forged[2], forged[3]], await consent(buyer, id, ls)]), /bad consent signature/);
    await reverts(settle(operator, id, ls, [await consent(seller, id, ls, { deadline: Math.floor(Date.now() / 1000) - 10 }), await consent(buyer, id, ls)]), /consent expired/);
    const good = await consent(seller, id, ls);
    const sig = Signature.from(good[3]);
    // The same signature's twin (n - s, the other v) recovers the same key: refused, as EIP-2 asks.
    const highS = (BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141') - BigInt(sig.s)).toString(16).padStart(64, '0');
    const twin = sig.r + highS + (sig.v === 27 ? '1c' : '1b');
    await reverts(settle(operator, id, ls, [[good[0], good[1], good[2], twin], await consent(buyer, id, ls)]), /malleable/);
    expect(await balances()).toEqual(before);
  });

  test('a consent nonce (one custody reservation) funds one settlement only, and only an operator may submit', async () => {
    const nonce = keccak256(toUtf8Bytes('reservation-1'));
    const first = batch();
    await settle(operator, first, legs(1n, 10n), [await consent(seller, first, legs(1n, 10n), { nonce }), await consent(buyer, first, legs(1n, 10n))]);
    const second = batch();
    await reverts(settle(operator, second, legs(1n, 10n), [await consent(seller, second, legs(1n, 10n), { nonce }), await consent(buyer, second, legs(1n, 10n))]), /nonce already used/);
    const third = batch();
    await reverts(settle(stranger, third, legs(1n, 10n), [await consent(seller, third, legs(1n, 10n)), await consent(buyer, third, legs(1n, 10n))]), /not an operator/);
    await reverts(stranger.send((dvp.connect(stranger.signer) as Contract).setOperator(stranger.address, true)), /not the owner/);
  });

  test('every deployment has the same runtime code, so custody can recognise a genuine DvP contract', async () => {
    const other = await operator.deploy(loadArtifact('TokenstackDvP', 'project'));
    expect(keccak256(await operator.provider.getCode(other.target as string))).toBe(keccak256(await operator.provider.getCode(dvp.target as string)));
    expect(await operator.provider.call({ data: loadArtifact('TokenstackDvP', 'project').bytecode })).toBe(await operator.provider.getCode(dvp.target as string));
  });

  describe('settleMany: several batches in one transaction, each settling or failing on its own', () => {
    type Legs = ReturnType<typeof legs>;
    const item = async (ls: Legs, id = batch()) => ({ id, ls, args: [id, tuple(ls), [await consent(seller, id, ls), await consent(buyer, id, ls)]] as const });
    const many = async (c: ChainClient, items: { args: readonly unknown[] }[], gasPerBatch = 1_000_000n, overrides: { gasLimit?: bigint } = {}) =>
      c.send((dvp.connect(c.signer) as Contract).settleMany(items.map((i) => i.args), gasPerBatch, overrides));
    /** Per batch id: 'settled' or the decoded reason of its Failed event, from the receipt alone. */
    const outcomes = (receipt: { logs: readonly { topics: readonly string[]; data: string }[] }) => {
      const out = new Map<string, string>();
      for (const log of receipt.logs) {
        const p = dvp.interface.parseLog(log);
        if (p?.name === 'Settled') out.set(p.args.batchId as string, 'settled');
        if (p?.name === 'Failed') out.set(p.args.batchId as string, revertDataReason(p.args.reason as string) ?? '(no reason)');
      }
      return out;
    };

    test('of four, the one whose buyer lacks the cash fails alone with its reason; the others settle once; the failed one settles later on the same consents', async () => {
      const items = [await item(legs(1n, 10n)), await item(legs(2n, 20n)), await item(legs(3n, 1_000_000n)), await item(legs(4n, 40n))];
      const before = await balances();
      const receipt = await many(operator, items);
      const out = outcomes(receipt);
      expect(items.map((i) => out.get(i.id))).toEqual(['settled', 'settled', expect.stringMatching(/exceeds balance/), 'settled']);
      expect(await balances()).toEqual([before[0] - 7n, before[1] + 7n, before[2] + 70n, before[3] - 70n]);
      expect(await dvp.settledAt(items[2].id)).toBe(0n);
      for (const i of [0, 1, 3]) expect(await dvp.settledAt(items[i].id)).toBe(BigInt(receipt.blockNumber));
      // Its consents were not used up: with the cash there, the same batch settles.
      await operator.send(cash.mint(buyer.address, 1_000_000n));
      expect(outcomes(await many(operator, [items[2]])).get(items[2].id)).toBe('settled');
      expect(await balances()).toEqual([before[0] - 10n, before[1] + 10n, before[2] + 1_000_070n, before[3] - 70n]);
    });

    test('sending the same batches again moves nothing: each fails as already settled; a batch twice in one call settles once', async () => {
      const items = [await item(legs(1n, 10n)), await item(legs(1n, 10n))];
      await many(operator, items);
      const before = await balances();
      const again = outcomes(await many(operator, items));
      expect(items.map((i) => again.get(i.id))).toEqual([expect.stringMatching(/already settled/), expect.stringMatching(/already settled/)]);
      const twice = await item(legs(1n, 10n));
      const both = await many(operator, [twice, twice]);
      expect(both.logs.map((l) => dvp.interface.parseLog(l)?.name).filter(Boolean)).toEqual(['Settled', 'Failed']);
      expect(await balances()).toEqual([before[0] - 1n, before[1] + 1n, before[2] + 10n, before[3] - 10n]);
    });

    test('only an operator may call it, settleOne only through it, within its bounds; too little gas for a batch reverts the whole transaction', async () => {
      const one = await item(legs(1n, 10n));
      const before = await balances();
      await reverts(many(stranger, [one]), /not an operator/);
      await reverts(operator.send((dvp.connect(operator.signer) as Contract).settleOne(...one.args, operator.address)), /only through settleMany/);
      await reverts(many(operator, []), /1 to 64 batches/);
      await reverts(many(operator, Array.from({ length: 65 }, () => one)), /1 to 64 batches/);
      await reverts(many(operator, [one], 0n), /bad gas per batch/);
      const settleMany = (dvp.connect(operator.signer) as Contract).settleMany;
      await expect(settleMany.staticCall([one.args], 1_000_000n, { gasLimit: 500_000n })).rejects.toMatchObject({ reason: 'DvP: out of gas' });
      // A batch that needs more than its allowance fails alone (no reason: it ran out), the transaction does not.
      expect(outcomes(await many(operator, [one], 30_000n)).get(one.id)).toBe('(no reason)');
      expect(await balances()).toEqual(before);
      expect(outcomes(await many(operator, [one])).get(one.id)).toBe('settled');
    });
  });
});
