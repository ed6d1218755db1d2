// Pull policies on vulnerability findings: per organization or repository (the repository's own wins),
// refuse pulls of images with findings at or above a severity, unless every such finding is allow-listed
// (with an expiry and a reason); optionally refuse images not scanned yet. The last result stands while a
// re-scan runs, so a pending scan never refuses what was pulled before. A fact source (what is known of
// the manifest and the policy that applies) and a pull rule (the decision) plug into auth/pull-rules.ts.
import type { Journal, RequestContext } from '../audit/journal.js';
import type { ManifestFactSource, PullRule } from '../auth/pull-rules.js';
import { allow, refuse } from '../auth/pull-rules.js';
import type { MetadataStore } from '../db/database.js';
import { allowList, allowVuln, deleteScanPolicy, disallowVuln, scanPolicies, setScanPolicy, type AllowEntry, type ScanPolicy } from '../db/scan-policies.js';
import { findCatalog } from '../db/scans.js';
import { findFindings } from '../db/vulns.js';
import { namespaceOf } from '../oci/reference.js';
import { SEVERITIES, type Finding, type FindingSeverity } from './matcher.js';

export const POLICY_SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type PolicySeverity = (typeof POLICY_SEVERITIES)[number];

/** 'org:NAME' or 'repo:NAME' from a TARGET as users write it: an organization, or a repository (has a '/'). */
export function targetOf(target: string): string {
  return target.includes('/') ? `repo:${target}` : `org:${target}`;
}

/** What the scan facts say of one manifest, for the rule. */
export interface ScanFacts {
  policy?: ScanPolicy;
  /** there is a catalogue (and findings, when a database was imported) */
  scanned: boolean;
  /** findings at or above the policy's severity that no unexpired allow-list entry covers */
  blocking: { id: string; severity: FindingSeverity; package: string }[];
  allowed: string[];
}

const MAX_IDS_IN_ERROR = 50;

/**
 * Every pull asks which policy applies: the policies (few: one per organization or repository that has one)
 * are held in memory and read again when older than this, so a change made through any process holds
 * everywhere within it (the scale-out issue's 5 seconds), and a pull where no policy applies costs no query.
 */
const POLICIES_MAX_AGE_MS = 2000;

export class ScanPolicies {
  private cached?: { at: number; policies: Promise<Map<string, ScanPolicy>> };

  constructor(private readonly meta: MetadataStore, private readonly journal: Journal) {}

  private all(now = Date.now()): Promise<Map<string, ScanPolicy>> {
    if (!this.cached || now - this.cached.at > POLICIES_MAX_AGE_MS) {
      const policies = scanPolicies(this.meta.db);
      this.cached = { at: now, policies };
      policies.catch(() => { if (this.cached?.policies === policies) this.cached = undefined; });
    }
    return this.cached.policies;
  }

  /** The policy that applies to a repository: its own, else its organization's. */
  async effective(repository: string): Promise<ScanPolicy | undefined> {
    const all = await this.all();
    return all.get(`repo:${repository}`) ?? all.get(`org:${namespaceOf(repository)}`);
  }

  async show(target: string): Promise<{ policy?: ScanPolicy; allowList: AllowEntry[] }> {
    const t = targetOf(target);
    return { policy: (await scanPolicies(this.meta.db, [t])).get(t), allowList: await allowList(this.meta.db, [t]) };
  }

  async set(target: string, p: { severity: PolicySeverity; unscanned: 'allow' | 'block'; exempt: string[]; exemptPushers: boolean }, ctx: RequestContext): Promise<ScanPolicy> {
    const policy: ScanPolicy = { target: targetOf(target), ...p, updatedAt: Date.now(), updatedBy: ctx.actor };
    await this.meta.transaction(async (tx) => {
      await setScanPolicy(tx, policy);
      await this.journal.write(tx, ctx, [{ action: 'scan.policy.set', resource: policy.target, detail: { ...p } }]);
    });
    this.cached = undefined;
    return policy;
  }

  async remove(target: string, ctx: RequestContext): Promise<boolean> {
    return this.meta.transaction(async (tx) => {
      const gone = await deleteScanPolicy(tx, targetOf(target));
      if (gone) await this.journal.write(tx, ctx, [{ action: 'scan.policy.remove', resource: targetOf(target) }]);
      this.cached = undefined;
      return gone;
    });
  }

  async allow(target: string, vulnId: string, until: number, reason: string, ctx: RequestContext): Promise<AllowEntry> {
    const e: AllowEntry = { target: targetOf(target), vulnId, until, reason, createdBy: ctx.actor, createdAt: Date.now() };
    await this.meta.transaction(async (tx) => {
      await allowVuln(tx, e);
      await this.journal.write(tx, ctx, [{ action: 'scan.allow', resource: e.target, detail: { vulnId, until: new Date(until).toISOString(), reason } }]);
    });
    return e;
  }

  async disallow(target: string, vulnId: string, ctx: RequestContext): Promise<boolean> {
    return this.meta.transaction(async (tx) => {
      const gone = await disallowVuln(tx, targetOf(target), vulnId);
      if (gone) await this.journal.write(tx, ctx, [{ action: 'scan.disallow', resource: targetOf(target), detail: { vulnId } }]);
      return gone;
    });
  }

  /** The facts the rule decides from; nothing is read when no policy applies. */
  async facts(repository: string, digest: string, now = Date.now()): Promise<ScanFacts> {
    const policy = await this.effective(repository);
    if (!policy) return { scanned: false, blocking: [], allowed: [] };
    const [catalog, findings, entries] = await Promise.all([
      findCatalog(this.meta.db, digest), findFindings(this.meta.db, digest),
      allowList(this.meta.db, [`repo:${repository}`, `org:${namespaceOf(repository)}`]),
    ]);
    const scanned = catalog !== undefined && (catalog.status === 'done' || catalog.status === 'skipped');
    const allowed = new Set(entries.filter((e) => e.until > now).map((e) => e.vulnId));
    const at = SEVERITIES.indexOf(policy.severity as FindingSeverity);
    const blocking: ScanFacts['blocking'] = [];
    const waived = new Set<string>();
    for (const f of findings ? (JSON.parse(findings.findings) as Finding[]) : []) {
      if (SEVERITIES.indexOf(f.severity) > at) continue;
      const hit = f.ids.find((id) => allowed.has(id)) ?? (allowed.has(f.id) ? f.id : undefined);
      if (hit) { waived.add(hit); continue; }
      blocking.push({ id: f.id, severity: f.severity, package: `${f.package.name}@${f.package.version}` });
    }
    return { policy, scanned, blocking, allowed: [...waived].sort() };
  }

  factSource(): ManifestFactSource {
    return {
      name: 'scan',
      facts: async (name, digest) => ({ scan: await this.facts(name, digest) }),
      asksCallerPush: (facts) => (facts.scan as ScanFacts | undefined)?.policy?.exemptPushers === true,
    };
  }

  rule(): PullRule {
    return {
      name: 'vulnerability-policy',
      evaluate(principal, resource) {
        const f = resource.facts.scan as ScanFacts | undefined;
        if (!f?.policy) return allow();
        const p = f.policy;
        if (principal.kind === 'user' && p.exempt.includes(principal.name)) return allow();
        if (p.exemptPushers && resource.callerMayPush) return allow();
        if (!f.scanned) return p.unscanned === 'block' ? refuse(`not scanned yet, and the policy of ${p.target} refuses images not scanned`, { policy: p.target }) : allow();
        if (f.blocking.length === 0) return allow();
        const ids = [...new Set(f.blocking.map((b) => b.id))];
        return refuse(
          `${ids.length} vulnerabilit${ids.length === 1 ? 'y' : 'ies'} at or above ${p.severity} (policy of ${p.target}): ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''}`,
          { policy: p.target, severity: p.severity, vulnerabilities: ids.slice(0, MAX_IDS_IN_ERROR), blocking: f.blocking.slice(0, MAX_IDS_IN_ERROR) },
        );
      },
    };
  }
}
