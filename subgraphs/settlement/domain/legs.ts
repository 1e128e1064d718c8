/**
 * The transfers of one DvP transaction, and who must consent to them. No I/O.
 *
 * Gross (model 1): one trade, two legs: the security token seller -> buyer and
 * the cash token buyer -> seller.
 *
 * Netted (model 2): many trades in one token. The security legs stay gross, in
 * trade order (the compliance rules judge each real transfer of ownership, and
 * a party that bought earlier in the batch can deliver later in it); the cash
 * is netted per wallet and paid from net payers to net receivers, at most
 * (payers + receivers - 1) transfers.
 */
export interface Leg { token: string; from: string; to: string; amount: bigint }

export interface Party { accountId: string; wallet: string }

export interface TradeLegs {
  settlementId: string;
  tokenAddress: string;
  cashAddress: string;
  quantity: bigint;
  cashAmount: bigint;
  seller: Party;
  buyer: Party;
  /** Settlement's reservation keys at custody that hold what each side pays. */
  sellKeys: string[];
  buyKeys: string[];
}

/** A wallet that pays in the batch, with the reservations that cover it. */
export interface Payer { accountId: string; wallet: string; reservationKeys: string[] }

export interface Batch { legs: Leg[]; payers: Payer[] }

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function grossLegs(t: TradeLegs): Batch {
  if (t.quantity <= 0n || t.cashAmount <= 0n) throw new RangeError('a trade moves a positive quantity against a positive cash amount');
  if (same(t.seller.wallet, t.buyer.wallet)) throw new RangeError('buyer and seller wallets must differ');
  return {
    legs: [
      { token: t.tokenAddress, from: t.seller.wallet, to: t.buyer.wallet, amount: t.quantity },
      { token: t.cashAddress, from: t.buyer.wallet, to: t.seller.wallet, amount: t.cashAmount },
    ],
    payers: [
      { accountId: t.seller.accountId, wallet: t.seller.wallet, reservationKeys: [...t.sellKeys] },
      { accountId: t.buyer.accountId, wallet: t.buyer.wallet, reservationKeys: [...t.buyKeys] },
    ],
  };
}

/** Each wallet's net cash: positive receives, negative pays. */
export function netCash(trades: readonly TradeLegs[]): Map<string, bigint> {
  const net = new Map<string, bigint>();
  const add = (w: string, d: bigint) => net.set(w, (net.get(w) ?? 0n) + d);
  for (const t of trades) {
    add(t.seller.wallet, t.cashAmount);
    add(t.buyer.wallet, -t.cashAmount);
  }
  return net;
}

export function nettedLegs(trades: readonly TradeLegs[]): Batch {
  if (trades.length === 0) throw new RangeError('a batch needs at least one trade');
  const [first] = trades;
  for (const t of trades) {
    if (!same(t.tokenAddress, first.tokenAddress) || !same(t.cashAddress, first.cashAddress)) throw new RangeError('a netted batch settles one token against one cash token');
    grossLegs(t); // same checks per trade
  }
  const legs: Leg[] = trades.map((t) => ({ token: t.tokenAddress, from: t.seller.wallet, to: t.buyer.wallet, amount: t.quantity }));

  const net = netCash(trades);
  const byAddress = (a: [string, bigint], b: [string, bigint]) => (a[0].toLowerCase() < b[0].toLowerCase() ? -1 : 1);
  const payers = [...net].filter(([, n]) => n < 0n).sort(byAddress).map(([w, n]) => ({ wallet: w, left: -n }));
  const receivers = [...net].filter(([, n]) => n > 0n).sort(byAddress).map(([w, n]) => ({ wallet: w, left: n }));
  for (let i = 0, j = 0; i < payers.length && j < receivers.length;) {
    const amount = payers[i].left < receivers[j].left ? payers[i].left : receivers[j].left;
    legs.push({ token: first.cashAddress, from: payers[i].wallet, to: receivers[j].wallet, amount });
    payers[i].left -= amount;
    receivers[j].left -= amount;
    if (payers[i].left === 0n) i++;
    if (receivers[j].left === 0n) j++;
  }

  // Who consents: every wallet a leg takes from, with the reservations of the trades it pays in.
  const payerOf = new Map<string, Payer>();
  const account = new Map<string, string>();
  for (const t of trades) {
    account.set(t.seller.wallet, t.seller.accountId);
    account.set(t.buyer.wallet, t.buyer.accountId);
  }
  const keysFor = (wallet: string, side: 'sell' | 'buy') =>
    trades.flatMap((t) => (side === 'sell' ? (same(t.seller.wallet, wallet) ? t.sellKeys : []) : (same(t.buyer.wallet, wallet) ? t.buyKeys : [])));
  for (const l of legs) {
    const isCash = same(l.token, first.cashAddress);
    const p = payerOf.get(l.from) ?? { accountId: account.get(l.from)!, wallet: l.from, reservationKeys: [] };
    for (const k of keysFor(l.from, isCash ? 'buy' : 'sell')) if (!p.reservationKeys.includes(k)) p.reservationKeys.push(k);
    payerOf.set(l.from, p);
  }
  return { legs, payers: [...payerOf.values()] };
}
