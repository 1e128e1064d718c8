import { describe, expect, test } from '@jest/globals';
import { TypedDataEncoder, VoidSigner, Wallet, keccak256, toUtf8Bytes, verifyTypedData } from 'ethers';
import { DigestSigner } from '../../subgraphs/kit/signer/digest-signer.js';
import { AmountError, cashAmountOf } from '../../subgraphs/settlement/domain/amounts.js';
import {
  ATTESTATION_TYPES, attestationDigest, attestationDomain, parseAttestationInput, recoverAttestationSigner, rulesHash, sameRecord, signAttestation, typedDataOf,
  type AttestationRecord,
} from '../../subgraphs/settlement/domain/attestation.js';
import { GENESIS, entryHash, verifyChain, type AuditEntry } from '../../subgraphs/settlement/domain/audit-chain.js';
import { grossLegs, netCash, nettedLegs, type TradeLegs } from '../../subgraphs/settlement/domain/legs.js';
import { backoffMs, canTransition, failureOfRevert, isTerminal } from '../../subgraphs/settlement/domain/status.js';

const addr = (n: number) => `0x${n.toString(16).padStart(40, '0')}`;
const SEC = addr(0xa1), CASH = addr(0xc1);
const A = addr(1), B = addr(2), C = addr(3), D = addr(4);
const trade = (id: string, seller: string, buyer: string, quantity: bigint, cash: bigint): TradeLegs => ({
  settlementId: id, tokenAddress: SEC, cashAddress: CASH, quantity, cashAmount: cash,
  seller: { accountId: `acc-${seller}`, wallet: seller }, buyer: { accountId: `acc-${buyer}`, wallet: buyer },
  sellKeys: [`${id}:sell`], buyKeys: [`${id}:buy`],
});

describe('DvP legs', () => {
  test('a gross trade is two legs, securities one way and cash the other, each payer covered by its own reservations', () => {
    const b = grossLegs(trade('t1', A, B, 10n, 250n));
    expect(b.legs).toEqual([{ token: SEC, from: A, to: B, amount: 10n }, { token: CASH, from: B, to: A, amount: 250n }]);
    expect(b.payers).toEqual([{ accountId: `acc-${A}`, wallet: A, reservationKeys: ['t1:sell'] }, { accountId: `acc-${B}`, wallet: B, reservationKeys: ['t1:buy'] }]);
    expect(() => grossLegs(trade('t2', A, A, 1n, 1n))).toThrow(/differ/);
    expect(() => grossLegs(trade('t3', A, B, 0n, 1n))).toThrow(RangeError);
  });

  test('netting keeps every security leg in trade order and pays each wallet\'s net cash in at most payers + receivers - 1 transfers', () => {
    const trades = [trade('t1', A, B, 10n, 100n), trade('t2', B, C, 4n, 48n), trade('t3', C, A, 2n, 30n), trade('t4', D, C, 5n, 70n)];
    const b = nettedLegs(trades);
    const sec = b.legs.filter((l) => l.token === SEC);
    expect(sec).toEqual(trades.map((t) => ({ token: SEC, from: t.seller.wallet, to: t.buyer.wallet, amount: t.quantity })));
    const cash = b.legs.filter((l) => l.token === CASH);
    const net = netCash(trades);
    expect([...net.values()].reduce((a, x) => a + x, 0n)).toBe(0n);
    const moved = new Map<string, bigint>();
    for (const l of cash) {
      moved.set(l.from, (moved.get(l.from) ?? 0n) - l.amount);
      moved.set(l.to, (moved.get(l.to) ?? 0n) + l.amount);
      expect(l.amount > 0n).toBe(true);
    }
    for (const [w, n] of net) expect([w, moved.get(w) ?? 0n]).toEqual([w, n]);
    const payers = [...net.values()].filter((n) => n < 0n).length;
    const receivers = [...net.values()].filter((n) => n > 0n).length;
    expect(cash.length).toBeLessThanOrEqual(payers + receivers - 1);
    expect(cash.length).toBeLessThan(trades.length); // fewer cash transfers than gross
    // Each payer consents with the reservations of the trades it pays in.
    const cashPayers = new Set(cash.map((l) => l.from));
    for (const p of b.payers) {
      const sells = trades.filter((t) => t.seller.wallet === p.wallet).map((t) => t.sellKeys[0]);
      const buys = cashPayers.has(p.wallet) ? trades.filter((t) => t.buyer.wallet === p.wallet).map((t) => t.buyKeys[0]) : [];
      expect(new Set(p.reservationKeys)).toEqual(new Set([...sells, ...buys]));
    }
  });

  test('a netted batch is one token against one cash token', () => {
    expect(() => nettedLegs([trade('t1', A, B, 1n, 1n), { ...trade('t2', B, C, 1n, 1n), tokenAddress: addr(0xa2) }])).toThrow(/one token/);
    expect(() => nettedLegs([])).toThrow(RangeError);
  });
});

describe('amounts', () => {
  test('the cash amount is price x quantity in the cash token\'s base units, exactly, or refused', () => {
    expect(cashAmountOf('102.50', 3n, 0, 6)).toBe(307_500_000n);
    expect(cashAmountOf('2.5', 10n, 0, 6)).toBe(25_000_000n);
    expect(cashAmountOf('1', 1_000n, 2, 2)).toBe(1_000n); // 10.00 tokens at 1.00
    expect(() => cashAmountOf('0.0000001', 1n, 0, 6)).toThrow(AmountError);
    expect(() => cashAmountOf('-1', 1n, 0, 6)).toThrow(/positive decimal/);
    expect(() => cashAmountOf('0', 1n, 0, 6)).toThrow(/positive/);
  });
});

describe('status lifecycle', () => {
  test('only the documented transitions are allowed; REJECTED, SETTLED, CANCELLED and a final FAILED end it', () => {
    expect(canTransition('RECEIVED', 'VERIFIED')).toBe(true);
    expect(canTransition('VERIFIED', 'SETTLING')).toBe(true);
    expect(canTransition('SETTLING', 'SETTLED')).toBe(true);
    expect(canTransition('FAILED', 'VERIFIED')).toBe(true);
    expect(canTransition('SETTLING', 'CANCELLED')).toBe(false);
    expect(canTransition('SETTLED', 'FAILED')).toBe(false);
    expect(canTransition('RECEIVED', 'SETTLED')).toBe(false);
    expect([isTerminal('FAILED', false), isTerminal('FAILED', true), isTerminal('CANCELLED', false)]).toEqual([false, true, true]);
  });

  test('retries back off exponentially up to the cap, and reverts map to reason codes', () => {
    expect([1, 2, 3, 4, 10].map((n) => backoffMs(n, 1000, 5000))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(failureOfRevert('CashToken: transfer amount exceeds balance')).toBe('AWAITING_CASH');
    expect(failureOfRevert('Insufficient Balance')).toBe('AWAITING_SECURITIES');
    expect(failureOfRevert('Transfer not possible')).toBe('COUNTERPARTY_INELIGIBLE');
    expect(failureOfRevert('DvP: caller is not an operator')).toBe('CHAIN_ERROR');
    expect(failureOfRevert(undefined)).toBe('CHAIN_ERROR');
  });
});

describe('audit hash chain', () => {
  const chain = (n: number): AuditEntry[] => {
    const out: AuditEntry[] = [];
    let prev = GENESIS;
    for (let i = 1; i <= n; i++) {
      const content = { seq: BigInt(i), settlementId: 'stl_x', batchId: null, kind: 'STATUS.X', actor: 'settlement', detail: { i, nested: { b: 1, a: [1, 2] } }, at: new Date(1_700_000_000_000 + i) };
      const hash = entryHash(content, prev);
      out.push({ ...content, prevHash: prev, hash });
      prev = hash;
    }
    return out;
  };

  test('an intact chain verifies; the hash does not depend on the order of object keys', () => {
    const c = chain(5);
    expect(verifyChain(c, 1n, 5n, GENESIS)).toEqual([]);
    const reordered = { ...c[0], detail: { nested: { a: [1, 2], b: 1 }, i: 1 } };
    expect(entryHash(reordered, GENESIS)).toBe(c[0].hash);
  });

  test('a changed entry, a removed entry, a rewritten link and a cut end are each reported', () => {
    const c = chain(6);
    const changed = c.map((e) => (e.seq === 3n ? { ...e, actor: 'mallory' } : e));
    expect(verifyChain(changed, 1n, 6n, GENESIS)).toEqual([expect.objectContaining({ seq: '3', kind: 'CHANGED' })]);
    const removed = c.filter((e) => e.seq !== 4n);
    expect(verifyChain(removed, 1n, 6n, GENESIS).map((b) => [b.seq, b.kind])).toEqual([['4', 'MISSING']]);
    // Removing an entry and re-linking the next one to its predecessor: the next one's hash no longer matches its content.
    const relinked = removed.map((e) => (e.seq === 5n ? { ...e, prevHash: c[2].hash } : e));
    expect(verifyChain(relinked, 1n, 6n, GENESIS).map((b) => [b.seq, b.kind])).toEqual([['4', 'MISSING'], ['5', 'CHANGED']]);
    expect(verifyChain(c.slice(0, 4), 1n, 6n, GENESIS).map((b) => [b.seq, b.kind])).toEqual([['5', 'MISSING'], ['6', 'MISSING']]);
    expect(verifyChain(c.slice(2), 3n, 6n, 'f'.repeat(64)).map((b) => [b.seq, b.kind])).toEqual([['3', 'BROKEN_LINK']]);
  });
});

describe('attestations', () => {
  const agent = new Wallet('0x' + '11'.repeat(32));
  const domain = attestationDomain(31337, addr(0xd0));
  const party = (n: number) => ({ investorId: `inv_${n}`, accountId: `acc_${n}`, wallet: addr(n), identity: addr(100 + n), verified: true });
  const record: AttestationRecord = {
    settlementId: 'stl_1', venue: 'OTHER-ATS', venueReference: 'r-1', tokenId: 'tok_1', securityToken: SEC, quantity: '10', cashToken: CASH, cashAmount: '25000000',
    seller: party(1), buyer: party(2), claimTopics: ['1', '2'], rulesHash: rulesHash([{ code: 'KYC_VALID_RECEIVER', passed: true }]),
    batchId: keccak256(toUtf8Bytes('b')), txHash: keccak256(toUtf8Bytes('t')), blockNumber: '42', settledAt: '1700000000',
  };

  test('a signed record verifies with ethers alone and recovers the agent; any change recovers someone else', async () => {
    const sig = await signAttestation(agent.privateKey, domain, record);
    const td = typedDataOf(domain, record);
    expect(verifyTypedData(td.domain, td.types, td.message, sig)).toBe(agent.address);
    expect(recoverAttestationSigner(domain, { ...record, quantity: '11' }, sig)).not.toBe(agent.address);
    expect(recoverAttestationSigner({ ...domain, chainId: 1 }, record, sig)).not.toBe(agent.address);
    expect(attestationDigest(domain, record)).toMatch(/^0x[0-9a-f]{64}$/);
    expect(ATTESTATION_TYPES.SettlementAttestation.map((f) => f.name)).toContain('rulesHash');
  });

  test('the digest from the cached encoder is ethers\' EIP-712 hash; a wallet, an HSM-style digest signer and any other signer all sign what verifyTypedData recovers', async () => {
    for (const d of [domain, attestationDomain(1, addr(0xd1)), domain]) expect(attestationDigest(d, record)).toBe(TypedDataEncoder.hash(d, ATTESTATION_TYPES, record));
    const hsm = new DigestSigner(agent.address, (digest) => agent.signingKey.sign(digest));
    // A signer that can only sign typed data (neither a wallet nor a digest signer): the fallback.
    const other = new (class extends VoidSigner {
      override signTypedData(...a: Parameters<VoidSigner['signTypedData']>) { return agent.signTypedData(...a); }
    })(agent.address);
    for (const key of [agent, hsm, other]) {
      const sig = await signAttestation(key, domain, record);
      expect(verifyTypedData(domain, ATTESTATION_TYPES, record, sig)).toBe(agent.address);
    }
  });

  test('the rules hash is keccak256 of the JSON [code, passed] pairs; records compare as JSON values', () => {
    expect(rulesHash([{ code: 'A', passed: true }, { code: 'B', passed: false }])).toBe(keccak256(toUtf8Bytes('[["A",true],["B",false]]')));
    expect(sameRecord(record, JSON.parse(JSON.stringify({ ...record, seller: { ...record.seller, wallet: record.seller.wallet.toUpperCase().replace('0X', '0x') } })))).toBe(true);
    expect(sameRecord(record, { ...record, cashAmount: '1' })).toBe(false);
    expect(parseAttestationInput(JSON.stringify(typedDataOf(domain, record))).record).toEqual(record);
    expect(() => parseAttestationInput('[]')).toThrow(/object/);
  });
});
