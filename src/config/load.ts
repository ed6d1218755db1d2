// Configuration: defaults < YAML file < BERTH_* environment < command-line flags, validated once.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {}

export interface ResolvedConfig extends Config {
  storage: Config['storage'] & { filesystem: { root: string }; encryption: Config['storage']['encryption'] & { keyFile: string } };
  database: Config['database'] & { sqlite: { path: string } };
}

/** Shortcuts for the settings people set most; everything else is BERTH_SECTION__KEY. */
const ENV_ALIASES: Record<string, string[]> = {
  BERTH_LISTEN: ['listen'],
  BERTH_DATA: ['data'],
  BERTH_LOG_LEVEL: ['log', 'level'],
  BERTH_PUBLIC_URL: ['publicUrl'],
};

const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function envValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (/^[[{]/.test(raw)) {
    try { return JSON.parse(raw); } catch { /* keep as string */ }
  }
  return raw;
}

function setPath(obj: Record<string, unknown>, keys: string[], value: unknown): void {
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur[k] !== 'object' || cur[k] === null) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null
      ? merge(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Environment overrides, typed by their look, with the raw strings kept for keys that want text. */
export function envOverrides(env: NodeJS.ProcessEnv, raw: Map<string, { keys: string[]; value: string }> = new Map()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('BERTH_') || value === undefined || name === 'BERTH_CONFIG' || name === 'BERTH_ADMIN_PASSWORD') continue;
    const keys = ENV_ALIASES[name] ?? (name.includes('__') ? name.slice('BERTH_'.length).split('__').map(camel) : null);
    if (!keys) continue;
    setPath(out, keys, envValue(value));
    raw.set(keys.join('.'), { keys, value });
  }
  return out;
}

export interface LoadOptions {
  file?: string;
  flags?: { listen?: string; data?: string };
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(opts: LoadOptions = {}): ResolvedConfig {
  const env = opts.env ?? process.env;
  let fromFile: Record<string, unknown> = {};
  const file = opts.file ?? env.BERTH_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    try {
      fromFile = (parseYaml(text) ?? {}) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message}`);
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) throw new ConfigError(`config file ${file} must hold a mapping`);
  }
  const flags: Record<string, unknown> = {};
  if (opts.flags?.listen !== undefined) flags.listen = opts.flags.listen;
  if (opts.flags?.data !== undefined) flags.data = opts.flags.data;
  const rawEnv = new Map<string, { keys: string[]; value: string }>();
  const merged = merge(merge(fromFile, envOverrides(env, rawEnv)), flags);
  let result = configSchema.safeParse(merged);
  if (!result.success) {
    // A number-looking value for a text setting (BERTH_DATA=2024) is meant as text.
    let retyped = false;
    for (const i of result.error.issues) {
      const e = rawEnv.get(i.path.join('.'));
      if (e && i.code === 'invalid_type' && (i as { expected?: string }).expected === 'string') { setPath(merged, e.keys, e.value); retyped = true; }
    }
    if (retyped) result = configSchema.safeParse(merged);
  }
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = i.path.join('.') || '(root)';
      const keys = (i as { keys?: string[] }).keys;
      return keys ? `unknown config key ${keys.map((k) => (i.path.length ? `${key}.${k}` : k)).join(', ')}` : `config key ${key}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration${file ? ` (${file})` : ''}:\n  ${lines.join('\n  ')}`);
  }
  const cfg = result.data;
  const data = path.resolve(cfg.data);
  return {
    ...cfg,
    data,
    storage: {
      ...cfg.storage, filesystem: { root: path.resolve(data, cfg.storage.filesystem.root ?? 'storage') },
      encryption: { ...cfg.storage.encryption, keyFile: path.resolve(data, cfg.storage.encryption.keyFile ?? path.join('secrets', 'storage.keys')) },
    },
    database: { ...cfg.database, sqlite: { ...cfg.database.sqlite, path: path.resolve(data, cfg.database.sqlite.path ?? 'berth.db') } },
  };
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  return { host, port: Number(listen.slice(i + 1)) };
}
