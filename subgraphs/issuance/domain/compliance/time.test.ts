import { addDaysUtc, addMonthsUtc, addPeriod } from './time.js';

const utc = (iso: string): Date => new Date(iso);
const iso = (d: Date): string => d.toISOString();

describe('calendar arithmetic in UTC', () => {
  test('adding months keeps the day of the month and the time of day', () => {
    expect(iso(addMonthsUtc(utc('2024-06-15T12:34:56.789Z'), 12))).toBe('2025-06-15T12:34:56.789Z');
    expect(iso(addMonthsUtc(utc('2024-06-15T00:00:00Z'), 6))).toBe('2024-12-15T00:00:00.000Z');
  });

  test('a month end that the target month lacks is clamped to its last day, never rolled over', () => {
    expect(iso(addMonthsUtc(utc('2024-08-31T00:00:00Z'), 6))).toBe('2025-02-28T00:00:00.000Z');
    expect(iso(addMonthsUtc(utc('2023-08-31T00:00:00Z'), 6))).toBe('2024-02-29T00:00:00.000Z');
    expect(iso(addMonthsUtc(utc('2024-01-31T08:00:00Z'), 1))).toBe('2024-02-29T08:00:00.000Z');
    expect(iso(addMonthsUtc(utc('2024-03-31T00:00:00Z'), 1))).toBe('2024-04-30T00:00:00.000Z');
  });

  test('the leap day plus a year is the last day of the next February', () => {
    expect(iso(addMonthsUtc(utc('2024-02-29T10:00:00Z'), 12))).toBe('2025-02-28T10:00:00.000Z');
    expect(iso(addMonthsUtc(utc('2024-02-29T10:00:00Z'), 48))).toBe('2028-02-29T10:00:00.000Z');
  });

  test('months carry into the following years and can be negative', () => {
    expect(iso(addMonthsUtc(utc('2024-11-30T00:00:00Z'), 3))).toBe('2025-02-28T00:00:00.000Z');
    expect(iso(addMonthsUtc(utc('2025-03-31T00:00:00Z'), -1))).toBe('2025-02-28T00:00:00.000Z');
    expect(iso(addMonthsUtc(utc('2025-01-15T00:00:00Z'), -13))).toBe('2023-12-15T00:00:00.000Z');
  });

  test('days are whole 24-hour days, so 40 days after June 1 is July 11', () => {
    expect(iso(addDaysUtc(utc('2025-06-01T00:00:00Z'), 40))).toBe('2025-07-11T00:00:00.000Z');
    expect(iso(addDaysUtc(utc('2025-03-01T12:00:00Z'), 90))).toBe('2025-05-30T12:00:00.000Z');
  });

  test('a period adds its months first, then its days', () => {
    expect(iso(addPeriod(utc('2025-01-31T00:00:00Z'), { months: 1, days: 1 }))).toBe('2025-03-01T00:00:00.000Z');
    expect(iso(addPeriod(utc('2025-01-31T00:00:00Z'), {}))).toBe('2025-01-31T00:00:00.000Z');
  });
});
