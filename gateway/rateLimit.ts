import { appError } from '../subgraphs/kit/errors.js';

/**
 * Requests per organisation per minute, as a token bucket refilled
 * continuously. Per gateway process: with N replicas an organisation gets up
 * to N times the figure (put a shared limiter in front for a hard cap).
 */
export class OrgRateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  take(org: string): void {
    if (this.perMinute <= 0) return;
    const t = this.now();
    const b = this.buckets.get(org) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + ((t - b.at) / 60_000) * this.perMinute);
    b.at = t;
    if (b.tokens < 1) {
      this.buckets.set(org, b);
      const retryAfterSeconds = Math.ceil(((1 - b.tokens) / this.perMinute) * 60);
      throw appError('RATE_LIMITED', `organisation ${org} is over its limit of ${this.perMinute} requests per minute`, { httpStatus: 429, retryable: true, details: { retryAfterSeconds } });
    }
    b.tokens -= 1;
    this.buckets.set(org, b);
  }
}
