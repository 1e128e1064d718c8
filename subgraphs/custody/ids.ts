import { newId, type IdPrefix } from '../kit/ids.js';

/**
 * Custody's own id prefixes beyond kit's shared list (kit/ids.ts is not ours
 * to edit; the generator does not check the prefix, the type does).
 */
export type CustodyIdPrefix = 'acc' | 'wdr' | 'wal' | 'rsv' | 'lop' | 'pol' | 'pch' | 'dst';

export const custodyId = (prefix: CustodyIdPrefix): string => newId(prefix as IdPrefix);
