// What every `berth` command shares. Only Node built-ins and types at the top: a command loads the registry
// (database, services) when it runs, so `berth --help` and `berth tls ...` never do.
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { RequestContext } from '../audit/journal.js';
import type { ResolvedConfig } from '../config/load.js';
import type { Berth } from '../main.js';

/** Changes made on the server's console are on record as the operating system user who made them. */
export const CLI: RequestContext = { actor: (() => { try { return userInfo().username; } catch { return 'unknown'; } })(), actorSource: 'cli', address: 'local', userAgent: 'berth-cli', requestId: randomUUID() };

export interface Common { data?: string; config?: string }

export const common = (c: Command) => c.option('--data <dir>', 'data directory (default ./data, or BERTH_DATA)').option('--config <file>', 'YAML configuration file (or BERTH_CONFIG)');

export async function config(opts: Common & { listen?: string }): Promise<ResolvedConfig> {
  const { ConfigError, loadConfig } = await import('../config/load.js');
  try {
    return loadConfig({ file: opts.config, flags: { data: opts.data, listen: opts.listen } });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`berth: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/** Opens the registry's data for one command and closes it after, whatever happens. */
export async function withBerth<T>(opts: Common, fn: (berth: Berth) => Promise<T>): Promise<T> {
  const { createBerth } = await import('../main.js');
  const berth = await createBerth(await config(opts));
  try {
    return await fn(berth);
  } finally {
    await berth.close();
  }
}

/** A password from standard input (one trailing newline dropped), never from the command line. */
export async function passwordFromStdin(passwordStdin: boolean | undefined): Promise<string> {
  if (!passwordStdin) throw new Error('pass the password on standard input with --password-stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * A table on stdout: columns aligned for a person at a terminal, tab-separated (with the same header line)
 * for scripts, so `cut -f` and `awk -F'\t'` keep working whatever the values' widths.
 */
export function printTable(headers: string[], rows: string[][]): void {
  if (!process.stdout.isTTY) {
    process.stdout.write([headers, ...rows].map((r) => `${r.join('\t')}\n`).join(''));
    return;
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `${r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]))).join('  ')}\n`;
  process.stdout.write([headers, ...rows].map(line).join(''));
}

export const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : '-');
