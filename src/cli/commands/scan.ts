// `berth scan ...`: what is inside an image and what the vulnerability database says of it. Works beside a
// running server (the queue is in the database); with --wait the scan is carried out here when no server
// takes it.
import type { Command } from 'commander';
import { CLI, common, iso, printTable, withBerth, type Common } from '../common.js';
import type { Berth } from '../../main.js';

/** NAME:TAG or NAME@DIGEST → the repository and the manifest digest it names. */
async function resolve(b: Berth, ref: string): Promise<{ name: string; digest: string; tag?: string; mediaType: string }> {
  const { parseReference } = await import('../../registry/manifest-service.js');
  const at = ref.lastIndexOf('@');
  const colon = ref.lastIndexOf(':');
  const [name, reference] = at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
  const m = await b.services.manifests.head(name, parseReference(reference), undefined);
  return { name, digest: m.digest, mediaType: m.mediaType, ...(at > 0 ? {} : { tag: reference }) };
}

const FINAL = new Set(['done', 'failed', 'skipped']);

export function register(program: Command): void {
  const scan = program.command('scan').description('image catalogues, SBOMs and vulnerability findings');

  common(scan.command('image <ref>', { isDefault: true }).description('scan an image (NAME:TAG or NAME@DIGEST) now; --wait for the result'))
    .option('--wait', 'wait for the catalogue and findings (scanning here when no server takes the scan)')
    .option('--timeout <seconds>', 'give up waiting after this long', '600')
    .option('--json', 'print the result as JSON')
    .action(async (ref: string, opts: Common & { wait?: boolean; timeout: string; json?: boolean }) => {
      await withBerth(opts, async (b) => {
        const r = await resolve(b, ref);
        let view = await b.services.scans.request(r.name, r.digest, 'cli');
        if (opts.wait) {
          const deadline = Date.now() + Number(opts.timeout) * 1000;
          const requested = Date.now();
          for (;;) {
            view = await b.services.scans.view(r.digest, false);
            if (FINAL.has(view.state) && (view.scannedAt ?? 0) >= requested) break;
            if (Date.now() > deadline) throw new Error(`no result for ${r.digest} within ${opts.timeout} s (state ${view.state})`);
            // Queued and nobody took it within a few seconds: carry it out here.
            if (view.state === 'queued' && Date.now() - requested > 3000) await b.scanner.step();
            else await new Promise((res) => setTimeout(res, 500));
          }
        }
        if (opts.json) { process.stdout.write(`${JSON.stringify(view)}\n`); return; }
        process.stdout.write(`${r.name}@${r.digest}: ${view.state}${view.packages !== undefined ? `, ${view.packages} packages` : ''}${view.error ? ` (${view.error})` : ''}\n`);
        if (view.vulnerabilities) {
          const c = view.vulnerabilities.counts;
          process.stdout.write(`findings: ${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown${view.vulnerabilities.current ? '' : ' (database updated since: matching again)'}\n`);
        }
        if (view.state === 'failed') process.exitCode = 1;
      });
    });

  common(scan.command('all').description('queue every manifest not catalogued yet (those pushed before scanning was on, say)'))
    .option('--again', 'queue every manifest, catalogued or not')
    .action(async (opts: Common & { again?: boolean }) => {
      await withBerth(opts, async (b) => {
        const n = await b.services.scans.requestAll(opts.again ?? false);
        process.stdout.write(`${n} manifests queued for a scan; serve's workers take them\n`);
      });
    });

  common(scan.command('report <ref>').description("the image's findings as a table, JSON, or Harbor's vulnerability report (v1.1)"))
    .option('--format <table|json|harbor>', 'output format', 'table')
    .option('--severity <level>', 'only findings at or above this severity (critical, high, medium, low)')
    .action(async (ref: string, opts: Common & { format: string; severity?: string }) => {
      await withBerth(opts, async (b) => {
        const { harborReport, reportRows, REPORT_HEADERS } = await import('../../scan/report.js');
        const { SCANNER } = await import('../../scan/catalogers.js');
        const { BERTH_VERSION } = await import('../../lib/version.js');
        const { SEVERITIES } = await import('../../scan/matcher.js');
        const r = await resolve(b, ref);
        const view = await b.services.scans.view(r.digest, true);
        if (!view.catalog) throw new Error(`${r.name}@${r.digest} has no catalogue yet (${view.state}): run berth scan ${ref} --wait`);
        let findings = view.vulnerabilities?.findings ?? [];
        if (opts.severity) {
          const at = SEVERITIES.indexOf(opts.severity as never);
          if (at < 0 || opts.severity === 'unknown') throw new Error('--severity is one of critical, high, medium, low');
          findings = findings.filter((f) => SEVERITIES.indexOf(f.severity) <= at);
        }
        if (opts.format === 'json') process.stdout.write(`${JSON.stringify({ digest: r.digest, repository: r.name, dbVersion: view.vulnerabilities?.dbVersion ?? 0, findings })}\n`);
        else if (opts.format === 'harbor') process.stdout.write(`${JSON.stringify(harborReport(findings, { repository: r.name, digest: r.digest, tag: r.tag, mediaType: r.mediaType }, { name: 'Berth', version: `${BERTH_VERSION} (${SCANNER})` }, new Date(view.vulnerabilities?.matchedAt ?? Date.now())), null, 2)}\n`);
        else if (opts.format === 'table') {
          if (!view.vulnerabilities) process.stdout.write('no vulnerability database imported yet (berth vulndb import)\n');
          else if (findings.length === 0) process.stdout.write('no findings\n');
          else printTable(REPORT_HEADERS, reportRows(findings));
        } else throw new Error('--format is one of table, json, harbor');
      });
    });

  common(scan.command('packages <ref>').description("the image's catalogue: every package, with the layer that brought it"))
    .option('--json', 'print the catalogue as JSON')
    .action(async (ref: string, opts: Common & { json?: boolean }) => {
      await withBerth(opts, async (b) => {
        const r = await resolve(b, ref);
        const view = await b.services.scans.view(r.digest, true);
        if (!view.catalog) throw new Error(`${r.name}@${r.digest} has no catalogue yet (${view.state}): run berth scan ${ref} --wait`);
        if (opts.json) { process.stdout.write(`${JSON.stringify(view.catalog)}\n`); return; }
        for (const p of view.catalog.platforms) {
          const plat = p.platform ? `${p.platform.os ?? '?'}/${p.platform.architecture ?? '?'}${p.platform.variant ? `/${p.platform.variant}` : ''}` : '';
          process.stdout.write(`${p.digest} ${plat} ${p.distro ? `${p.distro.id} ${p.distro.versionId ?? ''}` : ''}${p.skipped ? ` (${p.skipped})` : ''} scanned ${iso(view.scannedAt)}\n`);
          printTable(['TYPE', 'NAME', 'VERSION', 'LAYER', 'PATH'], p.packages.map((x) => [x.type, x.namespace ? `${x.namespace}/${x.name}` : x.name, x.version, x.layer.slice(7, 19), x.path]));
        }
      });
    });

  const policy = scan.command('policy').description('pull policies on findings, per organization or repository (TARGET with a "/")');
  common(policy.command('set <target>').description('refuse pulls of images with findings at or above a severity'))
    .requiredOption('--severity <level>', 'critical, high, medium or low')
    .option('--unscanned <allow|block>', 'refuse images not scanned yet too', 'allow')
    .option('--exempt <principals...>', 'user or robot names whose pulls are never refused')
    .option('--exempt-pushers', 'principals that may push to the repository are exempt')
    .action(async (target: string, opts: Common & { severity: string; unscanned: string; exempt?: string[]; exemptPushers?: boolean }) => {
      const { POLICY_SEVERITIES } = await import('../../scan/scan-policy.js');
      if (!(POLICY_SEVERITIES as readonly string[]).includes(opts.severity)) throw new Error('--severity is one of critical, high, medium, low');
      if (opts.unscanned !== 'allow' && opts.unscanned !== 'block') throw new Error('--unscanned is allow or block');
      await withBerth(opts, async (b) => {
        const p = await b.services.scanPolicies.set(target, { severity: opts.severity as never, unscanned: opts.unscanned as 'allow' | 'block', exempt: opts.exempt ?? [], exemptPushers: opts.exemptPushers ?? false }, CLI);
        process.stdout.write(`${p.target}: pulls of images with findings at or above ${p.severity} are refused${p.unscanned === 'block' ? ', and of images not scanned yet' : ''}\n`);
      });
    });
  common(policy.command('show <target>').description('the policy and its allow-list'))
    .option('--json', 'print one JSON object')
    .action(async (target: string, opts: Common & { json?: boolean }) => {
      await withBerth(opts, async (b) => {
        const v = await b.services.scanPolicies.show(target);
        if (opts.json) { process.stdout.write(`${JSON.stringify(v)}\n`); return; }
        if (!v.policy) process.stdout.write(`no policy on ${target} itself${target.includes('/') ? ' (its organization\'s applies, if any)' : ''}\n`);
        else process.stdout.write(`${v.policy.target}: refuse at or above ${v.policy.severity}; unscanned ${v.policy.unscanned}; exempt ${v.policy.exempt.join(', ') || 'nobody'}${v.policy.exemptPushers ? ' and pushers' : ''}; set ${iso(v.policy.updatedAt)} by ${v.policy.updatedBy}\n`);
        if (v.allowList.length) printTable(['ALLOWED', 'UNTIL', 'REASON', 'BY'], v.allowList.map((e) => [e.vulnId, `${iso(e.until)}${e.until <= Date.now() ? ' (expired)' : ''}`, e.reason, e.createdBy]));
      });
    });
  common(policy.command('remove <target>').description('remove the policy (the allow-list stays)'))
    .action(async (target: string, opts: Common) => {
      await withBerth(opts, async (b) => {
        if (!(await b.services.scanPolicies.remove(target, CLI))) throw new Error(`no policy on ${target}`);
        process.stdout.write(`policy on ${target} removed\n`);
      });
    });
  common(scan.command('allow <target> <vulnId>').description('allow-list a vulnerability id (CVE, GHSA, …) until a date'))
    .requiredOption('--until <date>', 'ISO 8601 date in the future')
    .requiredOption('--reason <text>', 'why it is accepted')
    .action(async (target: string, vulnId: string, opts: Common & { until: string; reason: string }) => {
      const until = Date.parse(opts.until);
      if (!Number.isFinite(until) || until <= Date.now()) throw new Error('--until must be a date in the future (ISO 8601)');
      await withBerth(opts, async (b) => {
        const e = await b.services.scanPolicies.allow(target, vulnId, until, opts.reason, CLI);
        process.stdout.write(`${e.vulnId} allowed on ${e.target} until ${iso(e.until)}\n`);
      });
    });
  common(scan.command('disallow <target> <vulnId>').description('take a vulnerability id off the allow-list'))
    .action(async (target: string, vulnId: string, opts: Common) => {
      await withBerth(opts, async (b) => {
        if (!(await b.services.scanPolicies.disallow(target, vulnId, CLI))) throw new Error(`${vulnId} is not allow-listed on ${target}`);
        process.stdout.write(`${vulnId} no longer allowed on ${target}\n`);
      });
    });
}
