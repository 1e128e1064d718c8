import { pino, type DestinationStream, type Logger } from 'pino';
import { logTraceFields } from './tracing.js';

export type { Logger };

/** Structured JSON logs; LOG_LEVEL=silent in tests. Secrets are redacted by path; a line written inside a span carries its trace_id and span_id. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  return pino({
    name: service,
    level,
    mixin: logTraceFields,
    redact: { paths: ['*.privateKey', '*.encryptedKey', '*.authorization', 'req.headers.authorization', '*.PKCS11_PIN', '*.pin'], censor: '[redacted]' },
  }, destination);
}
