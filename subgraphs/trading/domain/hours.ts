/**
 * Trading hours in a time zone: which weekdays, and one session per day
 * from open to close (local wall-clock minutes; close 24:00 is midnight).
 */
export interface TradingHours {
  /** ISO weekdays 1 (Monday) .. 7 (Sunday). */
  days: number[];
  /** Minutes after local midnight. */
  open: number;
  close: number;
  timeZone: string;
  /** The text it was parsed from, for the published rulebook. */
  text: string;
}

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function day(s: string): number {
  const i = DAYS.indexOf(s);
  if (i < 0) throw new Error(`unknown weekday "${s}" (use ${DAYS.join(', ')})`);
  return i + 1;
}

function minutes(s: string): number {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m || Number(m[2]) > 59 || Number(m[1]) > 24 || (Number(m[1]) === 24 && m[2] !== '00')) throw new Error(`"${s}" is not a time HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** "Mon-Fri 09:30-16:00 America/New_York" or "Mon,Wed,Fri 10:00-14:00 UTC". */
export function parseTradingHours(text: string): TradingHours {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) throw new Error('must look like "Mon-Fri 09:30-16:00 America/New_York"');
  const [daySpec, span, timeZone] = parts;
  const days = new Set<number>();
  for (const piece of daySpec.split(',')) {
    const [a, b] = piece.split('-');
    const from = day(a);
    const to = b === undefined ? from : day(b);
    for (let d = from; ; d = (d % 7) + 1) {
      days.add(d);
      if (d === to) break;
    }
  }
  const [o, c] = span.split('-');
  if (c === undefined) throw new Error(`"${span}" is not a span HH:MM-HH:MM`);
  const open = minutes(o);
  const close = minutes(c);
  if (close <= open) throw new Error('the session must close after it opens (one session within a day)');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(`unknown time zone "${timeZone}"`);
  }
  return { days: [...days].sort(), open, close, timeZone, text: `${daySpec} ${span} ${timeZone}` };
}

interface Local { weekday: number; minute: number; y: number; mo: number; d: number }

const formatters = new Map<string, Intl.DateTimeFormat>();
function local(at: Date, timeZone: string): Local {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return { weekday: day(p.weekday), minute: Number(p.hour) * 60 + Number(p.minute), y: Number(p.year), mo: Number(p.month), d: Number(p.day) };
}

/** The UTC instant of a local wall-clock time on the local date of `at` (DST-aware to the minute). */
function instantOf(at: Date, timeZone: string, minuteOfDay: number): Date {
  const l = local(at, timeZone);
  const guess = Date.UTC(l.y, l.mo - 1, l.d, 0, minuteOfDay);
  // The zone's offset at the guess, applied once and checked once (enough for real zones).
  const offsetAt = (t: number) => {
    const x = local(new Date(t), timeZone);
    return Date.UTC(x.y, x.mo - 1, x.d, 0, x.minute) - Math.floor(t / 60_000) * 60_000;
  };
  const first = guess - offsetAt(guess);
  return new Date(guess - offsetAt(first));
}

/** Whether the venue is in session at `at` (an order on the book is live.ts `isResting`). */
export function isOpen(h: TradingHours, at: Date): boolean {
  const l = local(at, h.timeZone);
  return h.days.includes(l.weekday) && l.minute >= h.open && l.minute < h.close;
}

/**
 * DAY orders placed before this instant have outlived their session: the
 * start of the session in progress, or `at` itself when the venue is closed
 * (then every DAY order has expired).
 */
export function dayOrdersPlacedBefore(h: TradingHours, at: Date): Date {
  return isOpen(h, at) ? instantOf(at, h.timeZone, h.open) : at;
}
