/**
 * Display strings for rule messages and for `currentValue` / `limit`. They
 * are read by compliance officers, so amounts carry the token's decimals and
 * money is in dollars; the numbers behind them stay bigint.
 */
import type { Period } from './time.js';

const grouped = (digits: string): string => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A token amount in base units shown with the token's decimals: 1500 with 2 decimals is "15". */
export function formatUnits(value: bigint, decimals: number): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString();
  const sign = negative ? '-' : '';
  if (decimals === 0) return sign + grouped(digits);
  const padded = digits.padStart(decimals + 1, '0');
  const whole = padded.slice(0, -decimals);
  const fraction = padded.slice(-decimals).replace(/0+$/, '');
  return sign + grouped(whole) + (fraction ? `.${fraction}` : '');
}

/** Cents as US dollars: 250000n is "$2,500.00". */
export function formatUsd(cents: bigint): string {
  const negative = cents < 0n;
  const abs = negative ? -cents : cents;
  const dollars = grouped((abs / 100n).toString());
  return `${negative ? '-' : ''}$${dollars}.${(abs % 100n).toString().padStart(2, '0')}`;
}

export const formatCount = (n: number): string => grouped(String(n));

export const formatInstant = (d: Date): string => d.toISOString();

/** 1000 basis points is "10%", 250 is "2.5%". */
export const formatBps = (bps: number): string => `${bps / 100}%`;

/**
 * A share of supply as a percentage with two decimals, rounded up so that a
 * share just above a limit never displays as equal to it.
 */
export function formatShare(part: bigint, whole: bigint): string {
  if (whole === 0n) return 'n/a';
  const hundredths = (part * 10_000n + whole - 1n) / whole;
  return `${hundredths / 100n}.${(hundredths % 100n).toString().padStart(2, '0')}%`;
}

export function formatPeriod(p: Period): string {
  const parts: string[] = [];
  const months = p.months ?? 0;
  const days = p.days ?? 0;
  if (months) parts.push(plural(months, 'month'));
  if (days) parts.push(plural(days, 'day'));
  return parts.length ? parts.join(' and ') : 'no period';
}

const plural = (n: number, unit: string): string => `${n} ${unit}${n === 1 ? '' : 's'}`;
