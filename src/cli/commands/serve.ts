// `berth serve` and `berth gc`.
import type { Command } from 'commander';
import { common, config, type Common } from '../common.js';

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function register(program: Command): void {
  common(program.command('serve').description('run the registry'))
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000)')
    .action(async (opts: Common & { listen?: string }) => {
      const { serve } = await import('../../main.js');
      await serve(await config(opts));
    });

  common(program.command('gc').description('remove unreferenced blobs and expired uploads'))
    .option('--dry-run', 'report what would be removed without removing it')
    .option('--grace <seconds>', 'spare blobs touched within this many seconds (default gc.grace)')
    .option('--json', 'print the report as one JSON object and nothing else on standard output')
    .action(async (opts: Common & { dryRun?: boolean; grace?: string; json?: boolean }) => {
      const cfg = await config(opts);
      const graceSeconds = opts.grace !== undefined ? Number(opts.grace) : cfg.gc.grace;
      if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new Error('--grace must be a non-negative number of seconds');
      const { createBerth } = await import('../../main.js');
      const berth = await createBerth(cfg);
      try {
        // Progress goes to stderr, so standard output holds only the summary (or the JSON report).
        const progress = (msg: string, f: Record<string, unknown>) => {
          const parts = Object.entries(f).map(([k, v]) => (k === 'bytes' ? mib(Number(v)) : `${v} ${k}`));
          process.stderr.write(`${msg}: ${parts.join(', ')}\n`);
        };
        const report = await berth.gc.run({ dryRun: opts.dryRun, graceSeconds, uploadExpirySeconds: cfg.registry.uploadExpiry, progress });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(report)}\n`);
          return;
        }
        const verb = report.dryRun ? 'would remove' : 'removed';
        process.stdout.write(
          `${report.dryRun ? 'dry run: ' : ''}${verb} ${report.blobsRemoved} blobs (${mib(report.bytesRemoved)}), ${report.unlinked} repository links, ` +
          `${report.uploadsRemoved} expired uploads (${mib(report.uploadBytesRemoved)}), ${report.orphanFilesRemoved} orphaned files (${mib(report.orphanBytesRemoved)}) in ${report.durationMs} ms\n`,
        );
      } finally {
        await berth.close();
      }
    });
}
