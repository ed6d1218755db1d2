// What the HTTP layer may call: the domain services, assembled by main.ts.
import type { AuthService } from '../auth/auth-service.js';
import type { Organizations } from '../auth/organizations.js';
import type { Config } from '../config/schema.js';
import type { BlobService } from '../registry/blob-service.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { CatalogPage } from '../registry/repositories.js';
import type { UploadService } from '../registry/upload-service.js';

export interface Services {
  config: Config;
  blobs: BlobService;
  uploads: UploadService;
  manifests: ManifestService;
  repositories: { list(n: number, last: string | undefined): Promise<CatalogPage> };
  auth: AuthService;
  organizations: Organizations;
  /** readiness: metadata and storage answer */
  ready(): Promise<boolean>;
}
