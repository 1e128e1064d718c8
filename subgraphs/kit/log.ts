import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; LOG_LEVEL=silent in tests. Secrets are redacted by path. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: service,
    level,
    redact: { paths: ['*.privateKey', '*.encryptedKey', '*.authorization', 'req.headers.authorization', '*.PKCS11_PIN', '*.pin'], censor: '[redacted]' },
  });
}
