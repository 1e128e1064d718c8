export * from './types.js';
export { openDb, DB_URL_PROTOCOLS } from './open.js';
export { migrate } from './migrate.js';
