// Takes manifests from the scan queue and catalogues them. A claim is a lease renewed while the layers
// are read; a worker that loses it (paused past its lease, another process took over) stops reading.
// A failed scan is tried again later, with a growing delay, up to a limit; then its failure is recorded.
import type { Logger } from 'pino';
import type { MetadataStore } from '../db/database.js';
import { claimScan, dequeueScan, releaseScan, renewScanClaim, saveCatalog, type CatalogRow, type QueuedScan } from '../db/scans.js';
import type { Cataloger } from './catalog/types.js';
import { catalogImage, PermanentScanError, type Distro, type ImageCatalog, type ImageContent } from './image.js';

export interface ScanWorkerOptions {
  holder: string;
  catalogers: readonly Cataloger[];
  detectDistro: (files: Map<string, Buffer>) => Distro | undefined;
  /** the scanner's name and version, recorded with each catalogue */
  scanner: string;
  leaseMs?: number;
  maxAttempts?: number;
  retryBaseMs?: number;
  /** once a catalogue is made, before it is saved (SBOMs); a failure is logged, the catalogue stands */
  onCatalogued?: (q: QueuedScan, catalog: ImageCatalog) => Promise<void>;
  log?: Logger;
}

export interface ScanOutcome { digest: string; status: CatalogRow['status'] | 'retry' | 'lost'; packages: number; error?: string }

export class ScanWorker {
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly retryBaseMs: number;

  constructor(private readonly meta: MetadataStore, private readonly content: (repository: string) => ImageContent, private readonly opts: ScanWorkerOptions) {
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.maxAttempts = opts.maxAttempts ?? 5;
    this.retryBaseMs = opts.retryBaseMs ?? 30_000;
  }

  /** Scans due manifests until none is left, `max` are done or `signal` aborts. */
  async drain(signal?: AbortSignal, max = Infinity): Promise<ScanOutcome[]> {
    const out: ScanOutcome[] = [];
    while (out.length < max && !signal?.aborted) {
      const r = await this.step(signal);
      if (!r) break;
      out.push(r);
    }
    return out;
  }

  /** Claims one due manifest and scans it; undefined when nothing is due. */
  async step(signal?: AbortSignal): Promise<ScanOutcome | undefined> {
    const now = Date.now();
    const q = await this.meta.transaction((tx) => claimScan(tx, this.meta.dialect, this.opts.holder, now, this.leaseMs));
    if (!q) return undefined;
    return this.scan(q, signal);
  }

  private async scan(q: QueuedScan, outer?: AbortSignal): Promise<ScanOutcome> {
    const ac = new AbortController();
    const stopOuter = () => ac.abort(outer?.reason ?? new Error('stopping'));
    outer?.addEventListener('abort', stopOuter, { once: true });
    let lost = false;
    const renew = setInterval(() => {
      void this.meta.transaction((tx) => renewScanClaim(tx, q.digest, this.opts.holder, Date.now() + this.leaseMs)).then((held) => {
        if (!held) { lost = true; ac.abort(new Error('scan claim lost')); }
      }, () => undefined);
    }, Math.max(1000, this.leaseMs / 3));
    const started = Date.now();
    try {
      const catalog = await catalogImage(this.content(q.repository), q.digest, { catalogers: this.opts.catalogers, detectDistro: this.opts.detectDistro, signal: ac.signal });
      const packages = catalog.platforms.reduce((n, p) => n + p.packages.length, 0);
      const images = catalog.platforms.filter((p) => !p.skipped);
      const row: CatalogRow = {
        digest: q.digest, mediaType: catalog.mediaType, status: images.length === 0 ? 'skipped' : 'done', catalog: JSON.stringify(catalog), packages,
        error: images.length === 0 ? catalog.platforms.map((p) => p.skipped).filter(Boolean).join('; ') || 'no image in the index' : null,
        scanner: this.opts.scanner, scannedAt: Date.now(), durationMs: Date.now() - started,
        bytesRead: catalog.platforms.reduce((n, p) => n + p.layers.reduce((m, l) => m + l.compressedBytes, 0), 0),
      };
      // What follows from the catalogue (its SBOMs) is done before the scan leaves the queue: a crash in
      // between scans again, and attaching the same SBOMs again changes nothing.
      if (row.status === 'done' && this.opts.onCatalogued) {
        try {
          await this.opts.onCatalogued(q, catalog);
        } catch (e) {
          if (ac.signal.aborted) throw e;
          this.opts.log?.warn({ digest: q.digest, repository: q.repository, err: { message: (e as Error).message } }, 'image catalogued, but what follows from it failed');
        }
      }
      await this.meta.transaction(async (tx) => {
        await saveCatalog(tx, row);
        await dequeueScan(tx, q.digest, this.opts.holder);
      });
      this.opts.log?.info({ digest: q.digest, repository: q.repository, packages, ms: row.durationMs }, 'image catalogued');
      return { digest: q.digest, status: row.status, packages };
    } catch (e) {
      const message = (e as Error).message;
      if (outer?.aborted) {
        // Stopping: the claim goes back at once for the next holder; not a failed attempt.
        await this.meta.transaction((tx) => releaseScan(tx, q.digest, this.opts.holder, Date.now())).catch(() => undefined);
        return { digest: q.digest, status: 'retry', packages: 0, error: message };
      }
      if (lost) return { digest: q.digest, status: 'lost', packages: 0, error: message };
      if (q.attempts >= this.maxAttempts || isPermanent(e)) {
        await this.meta.transaction(async (tx) => {
          await saveCatalog(tx, {
            digest: q.digest, mediaType: '', status: 'failed', catalog: null, packages: 0, error: message,
            scanner: this.opts.scanner, scannedAt: Date.now(), durationMs: Date.now() - started, bytesRead: 0,
          });
          await dequeueScan(tx, q.digest, this.opts.holder);
        });
        this.opts.log?.warn({ digest: q.digest, repository: q.repository, err: { message } }, 'image scan failed');
        return { digest: q.digest, status: 'failed', packages: 0, error: message };
      }
      const retryAt = Date.now() + this.retryBaseMs * 2 ** (q.attempts - 1);
      await this.meta.transaction((tx) => releaseScan(tx, q.digest, this.opts.holder, retryAt));
      this.opts.log?.warn({ digest: q.digest, repository: q.repository, attempt: q.attempts, err: { message } }, 'image scan failed; trying again later');
      return { digest: q.digest, status: 'retry', packages: 0, error: message };
    } finally {
      clearInterval(renew);
      outer?.removeEventListener('abort', stopOuter);
    }
  }
}

const isPermanent = (e: unknown): boolean => e instanceof PermanentScanError;
