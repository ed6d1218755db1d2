// `berth vulndb ...`: the offline vulnerability database. Works beside running servers: an import is one
// transaction, and stored catalogues are matched again by whichever process takes the rematch job (or
// here, with --wait).
import type { Command } from 'commander';
import { CLI, common, iso, printTable, withBerth, type Common } from '../common.js';

export function register(program: Command): void {
  const vulndb = program.command('vulndb').description('the offline vulnerability database');

  common(vulndb.command('import <paths...>').description('import OSV records (file, directory, zip, tar.gz), Debian security tracker JSON or DSA/DLA lists, Alpine secdb; all or nothing'))
    .option('--wait', 'match the stored catalogues again before returning')
    .option('--json', 'print the report as JSON')
    .action(async (paths: string[], opts: Common & { wait?: boolean; json?: boolean }) => {
      await withBerth(opts, async (b) => {
        const { SCAN_REMATCH_JOB } = await import('../../scan/findings.js');
        const report = await b.services.vulndb.import(paths, CLI);
        await b.jobs.enqueue(SCAN_REMATCH_JOB, undefined, { unique: true });
        const rematch = opts.wait ? await b.services.findings.rematchStale() : undefined;
        if (opts.json) { process.stdout.write(`${JSON.stringify({ ...report, rematch })}\n`); return; }
        for (const v of report.verifications) process.stdout.write(`${v.file}: ${v.verified === 'signature' ? `signature verified (${v.keyFingerprint})` : v.verified === 'checksum' ? 'checksum matched (not signed)' : 'not signed, no checksum'}${v.warnings.length ? `; ${v.warnings.join('; ')}` : ''}\n`);
        process.stdout.write(`imported ${report.records} records (${report.withdrawn} withdrawn) affecting ${report.packages} packages in ${report.durationMs} ms; database version ${report.dbVersion}\n`);
        printTable(['SOURCE', 'RECORDS', 'NEWEST'], report.sources.map((s) => [s.name, String(s.records), s.newestModified ?? '-']));
        if (rematch) process.stdout.write(`matched ${rematch.matched} stored catalogues again: ${rematch.changed} changed\n`);
      });
    });

  common(vulndb.command('status').description('sources, record counts, and when each was built and imported'))
    .option('--json', 'print one JSON object')
    .action(async (opts: Common & { json?: boolean }) => {
      await withBerth(opts, async (b) => {
        const s = await b.services.vulndb.status();
        if (opts.json) { process.stdout.write(`${JSON.stringify(s)}\n`); return; }
        process.stdout.write(`database version ${s.dbVersion}: ${s.records} records (${s.withdrawn} withdrawn), ${s.packages} affected packages; last import ${iso(s.lastImportAt)}${s.outOfDate ? ` — OUT OF DATE (older than ${s.maxAgeDays} days or never imported)` : ''}\n`);
        if (s.sources.length) printTable(['SOURCE', 'RECORDS', 'NEWEST RECORD', 'IMPORTED', 'VERIFIED', 'FROM'], s.sources.map((x) => [x.name, String(x.records), x.newestModified ?? '-', iso(x.importedAt), x.verified, x.file]));
        if (s.outOfDate) process.exitCode = 2;
      });
    });
}
