/**
 * Typed configuration from environment variables. Each setting names its
 * variable, parser and default; a missing or malformed one stops the process
 * at start with a message naming the variable (ConfigError).
 */
export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface Setting<T> {
  parse(raw: string, name: string): T;
  default?: T;
  /** Documented in README's configuration reference. */
  doc: string;
}

/** A process's settings by variable name. */
export type SettingsSpec = Record<string, Setting<unknown>>;
type Spec = SettingsSpec;
export type ConfigOf<S extends Spec> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export function loadConfig<S extends Spec>(spec: S, env: Record<string, string | undefined> = process.env): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(spec)) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (!('default' in setting)) throw new ConfigError(name, 'is required but not set');
      out[name] = setting.default;
    } else {
      out[name] = setting.parse(raw, name);
    }
  }
  return out as ConfigOf<S>;
}

export const str = (doc: string, def?: string): Setting<string> =>
  withDefault({ doc, parse: (raw) => raw }, def);

/** A comma-separated list (organisation names...); empty by default. */
export const list = (doc: string): Setting<string[]> => ({
  doc,
  default: [],
  parse: (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean),
});

export const optionalStr = (doc: string): Setting<string | undefined> => ({ doc, parse: (raw) => raw, default: undefined });

export const int = (doc: string, def?: number, min = 0, max = Number.MAX_SAFE_INTEGER): Setting<number> =>
  withDefault({
    doc,
    parse(raw, name) {
      if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`);
      const n = Number(raw);
      if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
      return n;
    },
  }, def);

export const port = (doc: string, def?: number): Setting<number> => int(doc, def, 0, 65535);

export const bool = (doc: string, def?: boolean): Setting<boolean> =>
  withDefault({
    doc,
    parse(raw, name) {
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new ConfigError(name, `must be true or false, got "${raw}"`);
    },
  }, def);

export const url = (doc: string, protocols: string[], def?: string): Setting<string> =>
  withDefault({
    doc,
    parse(raw, name) {
      let u: URL;
      try { u = new URL(raw); } catch { throw new ConfigError(name, `must be a URL, got "${raw}"`); }
      if (!protocols.includes(u.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${u.protocol}"`);
      return raw;
    },
  }, def);

export const optionalUrl = (doc: string, protocols: string[]): Setting<string | undefined> => ({ ...url(doc, protocols), default: undefined });

export const oneOf = <T extends string>(doc: string, values: readonly T[], def?: T): Setting<T> =>
  withDefault({
    doc,
    parse(raw, name) {
      if (!values.includes(raw as T)) throw new ConfigError(name, `must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    },
  }, def);

/** A 32-byte hex key (0x-prefixed), e.g. a private key or a key-encryption key. */
export const hexKey = (doc: string, def?: string): Setting<string> =>
  withDefault({
    doc,
    parse(raw, name) {
      if (!/^0x[0-9a-fA-F]{64}$/.test(raw)) throw new ConfigError(name, 'must be 32 bytes as 0x-prefixed hex');
      return raw;
    },
  }, def);

/** Like hexKey, but may be absent (features that need it refuse with a typed error). */
export const optionalHexKey = (doc: string): Setting<string | undefined> => ({ ...hexKey(doc), default: undefined });

/** JSON text, parsed and checked by `check` (which throws with the problem). */
export const json = <T>(doc: string, check: (v: unknown) => T, def?: T): Setting<T> =>
  withDefault({
    doc,
    parse(raw, name) {
      let v: unknown;
      try { v = JSON.parse(raw); } catch { throw new ConfigError(name, 'must be JSON'); }
      try { return check(v); } catch (e) { throw new ConfigError(name, `is not valid: ${(e as Error).message}`); }
    },
  }, def);

/** A secret of at least 32 characters (HMAC keys). */
export const secret = (doc: string, def?: string): Setting<string> =>
  withDefault({
    doc,
    parse(raw, name) {
      if (raw.length < 32) throw new ConfigError(name, 'must be at least 32 characters');
      return raw;
    },
  }, def);

function withDefault<T>(s: Setting<T>, def: T | undefined): Setting<T> {
  return def === undefined ? s : { ...s, default: def };
}
