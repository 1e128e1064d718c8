import { IssuerDesk as Desk } from '../../scripts/issuerDesk.js';
import type { TestStack } from '../support/stack.js';

export { monthsAgo } from '../../scripts/issuerDesk.js';

/** The issuer's client plus what only a test can do: wait for the issuance service's background chain work. */
export class IssuerDesk extends Desk {
  constructor(readonly stack: TestStack, token: string) {
    super(stack.gateway.url, token);
  }

  static async open(stack: TestStack, org = 'issuer-co'): Promise<IssuerDesk> {
    return new IssuerDesk(stack, await stack.token(org, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']));
  }

  /** Waits until the queued on-chain identity work is applied. */
  async settled(timeoutMs = 60_000) {
    const db = this.stack.subgraphs.issuance.db;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const [r] = await db.query<{ n: string; err: string | null }>("SELECT count(*) AS n, max(last_error) AS err FROM chain_jobs WHERE status = 'PENDING'");
      if (Number(r.n) === 0) return;
      if (Date.now() > end) throw new Error(`chain jobs still pending: ${r.n} (${r.err})`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
