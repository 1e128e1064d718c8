/**
 * Periods as regulations state them: calendar months ("6 months", "one
 * year") and days ("40 days"). All arithmetic is in UTC so that the result
 * does not depend on the server's time zone or on daylight saving.
 */
export interface Period {
  readonly months?: number;
  readonly days?: number;
}

const DAY_MS = 86_400_000;

/**
 * Adds calendar months in UTC, keeping the time of day. When the target
 * month is shorter than the start day, the day is clamped to the month's
 * last day instead of rolling over: Aug 31 + 6 months = Feb 28 (Feb 29 in a
 * leap year), Feb 29 2024 + 12 months = Feb 28 2025, Jan 31 + 1 month =
 * Feb 28/29. So a period never ends in the month after the one it names.
 */
export function addMonthsUtc(d: Date, months: number): Date {
  const m = d.getUTCMonth() + months;
  const year = d.getUTCFullYear() + Math.floor(m / 12);
  const month = ((m % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const out = new Date(d.getTime());
  out.setUTCFullYear(year, month, Math.min(d.getUTCDate(), lastDay));
  return out;
}

/** Adds whole 24-hour days (UTC has no daylight saving, so a day is always 24 h). */
export function addDaysUtc(d: Date, days: number): Date {
  return new Date(d.getTime() + days * DAY_MS);
}

/** Months first, then days: `{ months: 1, days: 10 }` from Jan 31 is Feb 28/29 + 10 days. */
export function addPeriod(d: Date, p: Period): Date {
  return addDaysUtc(addMonthsUtc(d, p.months ?? 0), p.days ?? 0);
}

export const isZeroPeriod = (p: Period): boolean => (p.months ?? 0) === 0 && (p.days ?? 0) === 0;

export const laterOf = (a: Date, b: Date): Date => (a.getTime() >= b.getTime() ? a : b);
export const earlierOf = (a: Date, b: Date): Date => (a.getTime() <= b.getTime() ? a : b);
