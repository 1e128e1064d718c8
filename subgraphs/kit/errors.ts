import { GraphQLError } from 'graphql';

/**
 * Every error a client can see carries a namespaced code in extensions.code
 * (AUTH.*, INPUT.*, <SUBGRAPH>.*). Business refusals (a compliance rejection)
 * are returned in payloads, not thrown; these are for bad requests.
 */
export interface AppErrorOptions {
  /** HTTP status when the error ends the whole request (auth). */
  httpStatus?: number;
  /** Extra fields for the client (the variable, the limit...). Never secrets. */
  details?: Record<string, unknown>;
  retryable?: boolean;
}

export function appError(code: string, message: string, opts: AppErrorOptions = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code,
      ...(opts.retryable !== undefined ? { retryable: opts.retryable } : {}),
      ...(opts.details ?? {}),
      ...(opts.httpStatus ? { http: { status: opts.httpStatus } } : {}),
    },
  });
}

export const unauthenticated = (message: string): GraphQLError =>
  appError('UNAUTHENTICATED', message, { httpStatus: 401 });

export const forbidden = (message: string): GraphQLError => appError('FORBIDDEN', message);

export const badInput = (code: string, message: string, details?: Record<string, unknown>): GraphQLError =>
  appError(code.includes('.') ? code : `INPUT.${code}`, message, { details });

export const notFound = (kind: string, id: string): GraphQLError =>
  appError('NOT_FOUND', `${kind} ${id} not found`, { details: { kind, id } });

export function errorCode(e: unknown): string | undefined {
  return e instanceof GraphQLError ? (e.extensions?.code as string | undefined) : undefined;
}

/** The peer's own code behind a retryable DOWNSTREAM.UNAVAILABLE (kit/internal.ts keeps it as extensions.cause), else the code. */
export function rootErrorCode(e: unknown): string | undefined {
  const cause = e instanceof GraphQLError ? e.extensions?.cause : undefined;
  return typeof cause === 'string' ? cause : errorCode(e);
}
