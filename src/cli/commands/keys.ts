// `berth keys ...`: the key-encryption keys of encryption at rest (storage.encryption). Works beside a
// running server: the database says which key is current, and every process reads it for each new file.
import type { Command } from 'commander';
import { CLI, common, printTable, withBerth, type Common } from '../common.js';
import type { Berth } from '../../main.js';

function keysOf(b: Berth) {
  if (!b.storageKeys) throw new Error('encryption at rest is off (storage.encryption.enabled: false) and nothing stored is encrypted');
  return b.storageKeys;
}

const when = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : '-');

export function register(program: Command): void {
  const keys = program.command('keys').description('key-encryption keys of encryption at rest (storage.encryption)');

  common(keys.command('status').description('keys, which one is current, and how far the background walk (encrypt, decrypt, re-wrap) is'))
    .option('--json', 'print one JSON object')
    .action(async (opts: Common & { json?: boolean }) => {
      await withBerth(opts, async (b) => {
        const { STORAGE_ENCRYPTION_JOB } = await import('../../registry/storage-keys.js');
        if (!b.storageKeys) {
          // Off, and nothing encrypted: the keys once used are listed as retired (their material may remain in the provider).
          const { listEncryptionKeys } = await import('../../db/encryption-keys.js');
          const rows = await listEncryptionKeys(b.meta.db);
          const list = rows.map((r) => ({ id: r.id, state: r.state, current: false, present: null, createdAt: r.createdAt, retiredAt: r.retiredAt }));
          if (opts.json) process.stdout.write(`${JSON.stringify({ enabled: false, keys: list })}\n`);
          else {
            process.stdout.write('encryption at rest is off; nothing stored is encrypted\n');
            if (list.length) printTable(['KEY', 'STATE', 'CREATED', 'RETIRED'], list.map((r) => [r.id, r.state, when(r.createdAt), when(r.retiredAt)]));
          }
          return;
        }
        const k = b.storageKeys;
        const list = await k.keys();
        const runs = await b.jobs.list(STORAGE_ENCRYPTION_JOB, 20);
        const active = runs.find((r) => r.state === 'queued' || r.state === 'running');
        const lastDone = runs.find((r) => r.state === 'done');
        const status = {
          enabled: k.encryptWrites, provider: k.provider.kind, keys: list,
          walk: active ? { id: active.id, state: active.state, progress: active.progress, attempt: active.attempt, error: active.error } : null,
          lastWalk: lastDone ? { id: lastDone.id, finishedAt: lastDone.finishedAt, report: lastDone.result } : null,
        };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(status)}\n`);
          return;
        }
        process.stdout.write(`encryption at rest: ${k.encryptWrites ? 'on' : 'off (decrypting)'}; provider: ${k.provider.kind}\n`);
        printTable(['KEY', 'STATE', 'CURRENT', 'IN PROVIDER', 'CREATED', 'RETIRED'],
          list.map((r) => [r.id, r.state, r.current ? 'yes' : '', r.present ? 'yes' : 'NO', when(r.createdAt), when(r.retiredAt)]));
        if (active) process.stdout.write(`walk ${active.id}: ${active.state}${active.progress ? ` ${JSON.stringify(active.progress.fields ?? active.progress)}` : ''}\n`);
        if (lastDone) {
          const r = lastDone.result as { files: number; byKey: Record<string, number>; plain: number };
          process.stdout.write(`last complete walk ${when(lastDone.finishedAt)}: ${r.files} files; ${Object.entries(r.byKey).map(([id, n]) => `${n} under ${id}`).join(', ') || 'none encrypted'}; ${r.plain} plain\n`);
        }
      });
    });

  common(keys.command('rotate').description('make a new key-encryption key current and queue the walk that re-wraps every data key under it'))
    .option('--wait', 'wait for the walk to finish (carrying it out here if no server takes it), showing progress')
    .action(async (opts: Common & { wait?: boolean }) => {
      await withBerth(opts, async (b) => {
        const k = keysOf(b);
        const { STORAGE_ENCRYPTION_JOB } = await import('../../registry/storage-keys.js');
        const id = await k.rotate(CLI);
        const { run } = await b.jobs.enqueue(STORAGE_ENCRYPTION_JOB, undefined, { unique: true });
        process.stdout.write(`new key ${id} is current; re-wrap walk ${run.id} queued\n`);
        if (opts.wait) await waitForWalk(b, run.id);
      });
    });

  common(keys.command('retire <key>').description('destroy a key that no stored file needs any more (checks every file first)'))
    .action(async (id: string, opts: Common) => {
      await withBerth(opts, async (b) => {
        await keysOf(b).retire(id, CLI, { progress: (phase, f) => process.stderr.write(`${phase}: ${JSON.stringify(f)}\n`) });
        process.stdout.write(`key ${id} retired and destroyed in its provider\n`);
      });
    });
}

/** Runs the job runtime here with only the walk defined, until the run ends (here or in another process). */
async function waitForWalk(b: Berth, runId: string): Promise<void> {
  const { defineEncryptionJob } = await import('../../main.js');
  defineEncryptionJob(b);
  b.jobs.start();
  let shown = '';
  for (;;) {
    const run = await b.jobs.get(runId);
    if (!run) throw new Error(`walk ${runId} vanished`);
    const p = run.progress ? JSON.stringify(run.progress) : '';
    if (p && p !== shown) { process.stderr.write(`${p}\n`); shown = p; }
    if (run.state === 'done') {
      process.stdout.write(`walk done: ${JSON.stringify(run.result)}\n`);
      return;
    }
    if (run.state === 'failed' || run.state === 'cancelled') throw new Error(`walk ${run.state}: ${run.error ?? ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
