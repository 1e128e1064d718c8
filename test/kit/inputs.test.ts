import { describe, expect, test } from '@jest/globals';
import { GraphQLError } from 'graphql';
import { newId } from '../../subgraphs/kit/ids.js';
import { feedUrlOf } from '../../subgraphs/kit/feed.js';
import { isId, isIdempotencyKey, isPrintable, requireIdempotencyKey } from '../../subgraphs/kit/inputs.js';

/** The one id-format and key check every subgraph uses (kit/inputs.ts), against what a hostile caller sends. */
describe('kit/inputs', () => {
  test('an id made by newId passes, of its own kind only', () => {
    const id = newId('tok');
    expect(isId(id, 'tok')).toBe(true);
    expect(isId(id, 'acc')).toBe(false);
  });

  test.each<[string, unknown]>([
    ['another kind', `acc_${'0'.repeat(26)}`],
    ['upper case', `tok_${'A'.repeat(26)}`],
    ['too short', `tok_${'0'.repeat(25)}`],
    ['too long', `tok_${'0'.repeat(27)}`],
    ['a trailing newline', `tok_${'0'.repeat(26)}\n`],
    ['a megabyte', `tok_${'0'.repeat(1_000_000)}`],
    ['a number', 42],
    ['null', null],
    ['an object', { toString: () => `tok_${'0'.repeat(26)}` }],
  ])('a token id refuses %s', (_what, v) => {
    expect(isId(v, 'tok')).toBe(false);
  });

  test('idempotency keys: 1 to 128 printable characters, no space, no control character', () => {
    expect(isIdempotencyKey('k')).toBe(true);
    expect(isIdempotencyKey('x'.repeat(128))).toBe(true);
    for (const bad of ['', 'x'.repeat(129), 'a b', 'a\u0000b', 'é', 'a\nb', 7, undefined, 'x'.repeat(1_000_000)]) expect(isIdempotencyKey(bad)).toBe(false);
    expect(isPrintable('venue-1', 64)).toBe(true);
    expect(isPrintable('x'.repeat(65), 64)).toBe(false);
  });

  test('a bad key is INPUT.INVALID_IDEMPOTENCY_KEY naming its field', () => {
    expect(requireIdempotencyKey('k-1')).toBe('k-1');
    let err: unknown;
    try { requireIdempotencyKey(' ', 'reservationKey'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(GraphQLError);
    expect((err as GraphQLError).extensions).toMatchObject({ code: 'INPUT.INVALID_IDEMPOTENCY_KEY', field: 'reservationKey' });
    expect((err as GraphQLError).message).toBe('reservationKey must be 1 to 128 printable characters');
  });

  test('a feed URL is the same whether or not the base URL ends in a slash', () => {
    expect(feedUrlOf('http://127.0.0.1:4001')).toBe('http://127.0.0.1:4001/internal/feed');
    expect(feedUrlOf('http://127.0.0.1:4001/')).toBe('http://127.0.0.1:4001/internal/feed');
    expect(feedUrlOf('https://issuance.internal/base//')).toBe('https://issuance.internal/base/internal/feed');
  });
});
