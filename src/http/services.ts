// What the HTTP layer may call: the domain services, assembled by main.ts.
import type { AuthService } from '../auth/auth-service.js';
import type { Organizations } from '../auth/organizations.js';
import type { Journal } from '../audit/journal.js';
import type { PullSummaries } from '../audit/pull-summaries.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Outbox } from '../events/outbox.js';
import type { Webhooks } from '../events/webhooks.js';
import type { RepositoryBrowser } from '../registry/repository-browser.js';
import type { GcRuns } from '../jobs/gc-runs.js';
import type { Config } from '../config/schema.js';
import type { BlobService } from '../registry/blob-service.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { CatalogPage } from '../registry/repositories.js';
import type { UploadService } from '../registry/upload-service.js';
import type { RepositoryDeletion } from '../registry/repository-deletion.js';
import type { Readiness } from '../registry/readiness.js';
import type { ScanService } from '../scan/scan-service.js';
import type { FindingsService } from '../scan/findings.js';
import type { VulnDbService } from '../scan/vulndb-service.js';
import type { ScanPolicies } from '../scan/scan-policy.js';

export interface Services {
  config: Config;
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  deletion: RepositoryDeletion;
  repositories: { list(n: number, last: string | undefined, contains?: string): Promise<CatalogPage>; exists(name: string): Promise<boolean> };
  auth: AuthService;
  organizations: Organizations;
  journal: Journal;
  /** where changes append their events (in their own transaction) */
  outbox: Outbox;
  pullSummaries: PullSummaries;
  audit: AuditService;
  webhooks: Webhooks;
  browser: RepositoryBrowser;
  gcRuns: GcRuns;
  scans: ScanService;
  findings: FindingsService;
  vulndb: VulnDbService;
  scanPolicies: ScanPolicies;
  /** readiness: metadata and storage answer reads and take writes; told of the faults requests meet */
  readiness: Pick<Readiness, 'check' | 'noteFault'>;
}
