import type { ASTVisitor, ValidationRule } from 'graphql';
import { appError } from './errors.js';

/**
 * PostgreSQL text cannot hold U+0000 (it fails with "invalid byte sequence"),
 * and no identifier, name or note of this API has a use for it: a NUL in a
 * request is refused at the edge of every process, in the operation's string
 * literals and in its variables, before any resolver or query runs.
 */
export const NUL_CHARACTER = 'INPUT.NUL_CHARACTER';

export const NUL_MESSAGE = 'text may not contain the NUL character (U+0000)';
export const nulCharacter = () => appError(NUL_CHARACTER, NUL_MESSAGE, { httpStatus: 400 });

/** Whether any string in a JSON value (at any depth, iteratively: a deep array cannot overflow the stack) holds U+0000. */
export function containsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) stack.push(k, x);
    }
  }
  return false;
}

/** The same for string literals of an operation (`id: "a\u0000b"`). */
export const noNulInStrings: ValidationRule = (ctx) => ({
  StringValue(node) {
    if (node.value.includes('\u0000')) ctx.reportError(appError(NUL_CHARACTER, NUL_MESSAGE));
  },
}) as ASTVisitor;
