import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { SupergraphSdlHook } from '@apollo/gateway';
import { fromRoot } from '../subgraphs/kit/paths.js';

export const supergraphPath = (p: string): string => (isAbsolute(p) ? p : fromRoot(p));

/** Serves the checked-in supergraph file and hands a new version to the gateway when the file changes. */
export function fileSupergraph(path: string, onReload?: (sdl: string) => void, intervalMs = 1000): SupergraphSdlHook {
  return async ({ update }) => {
    const abs = supergraphPath(path);
    let current = readFileSync(abs, 'utf8');
    const onChange = () => {
      let next: string;
      try { next = readFileSync(abs, 'utf8'); } catch { return; } // mid-write: the next tick reads it whole
      if (next === current) return;
      current = next;
      update(next);
      onReload?.(next);
    };
    watchFile(abs, { interval: intervalMs, persistent: false }, onChange);
    return { supergraphSdl: current, cleanup: async () => unwatchFile(abs, onChange) };
  };
}

/** name -> URL as recorded in the supergraph's join__Graph enum. */
export function subgraphUrlsOf(sdl: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of sdl.matchAll(/@join__graph\(name: "([^"]+)", url: "([^"]+)"\)/g)) out[m[1]] = m[2];
  return out;
}
