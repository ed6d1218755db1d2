// Composition root: the only place that names concrete drivers and dialects.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { pino, type Logger } from 'pino';
import sonicBoom from 'sonic-boom';
import type { ResolvedConfig } from './config/load.js';
import { parseListen } from './config/load.js';
import { probeDatabase, type MetadataStore } from './db/database.js';
import { openPostgres } from './db/dialects/postgres.js';
import { openSqlite } from './db/dialects/sqlite.js';
import { secureContextOptions, tlsEnabled } from './http/tls.js';
import type { Server as TlsServer } from 'node:tls';
import type { Services } from './http/services.js';
import { BlobService } from './registry/blob-service.js';
import { GarbageCollector } from './registry/garbage-collector.js';
import { GcQueue, GcReviewer } from './registry/gc-reviewer.js';
import { ManifestService } from './registry/manifest-service.js';
import { findRepositoryId, listRepositories } from './registry/repositories.js';
import { UploadService } from './registry/upload-service.js';
import { Readiness } from './registry/readiness.js';
import { infrastructureError } from './errors/infrastructure.js';
import { RepositoryDeletion } from './registry/repository-deletion.js';
import type { StorageDriver } from './storage/driver.js';
import path from 'node:path';
import { Accounts } from './auth/accounts.js';
import { Organizations } from './auth/organizations.js';
import { AccessTokens } from './auth/access-tokens.js';
import { AuthService } from './auth/auth-service.js';
import { PullRules, type ManifestFactSource, type PullRule } from './auth/pull-rules.js';
import { DbKeyStore } from './auth/db-key-store.js';
import { loadOrCreateMasterKey } from './auth/master-key.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { TokenService } from './auth/token-service.js';
import { SecondFactor } from './auth/second-factor.js';
import { Journal } from './audit/journal.js';
import { PullSummaries } from './audit/pull-summaries.js';
import { AuditService } from './audit/audit-service.js';
import { Outbox } from './events/outbox.js';
import type { NewEvent } from './events/event.js';
import { Webhooks } from './events/webhooks.js';
import { WebhookDispatcher } from './jobs/webhook-dispatcher.js';
import { SyslogForwarder } from './jobs/syslog-forwarder.js';
import { GC_JOB, GcRuns, type GcParams } from './jobs/gc-runs.js';
import { Scheduler } from './jobs/scheduler.js';
import type { RequestContext } from './audit/journal.js';
import { RepositoryBrowser } from './registry/repository-browser.js';
import type { AddressPolicy } from './lib/address-guard.js';
import type { DirectoryAccounts } from './auth/directory-accounts.js';
import { adoptOrphanedNamespaces } from './auth/namespaces.js';
import type { LdapDirectory } from './auth/ldap/ldap-directory.js';
import { readFileSync } from 'node:fs';
import { Sessions } from './auth/sessions.js';
import { SecretBox } from './lib/secret-box.js';
import { FilesystemDriver } from './storage/drivers/filesystem/filesystem-driver.js';
import { S3Driver } from './storage/drivers/s3/s3-driver.js';
import { MemoryDriver } from './storage/drivers/memory/memory-driver.js';
import { FileKeyProvider } from './storage/encryption/file-key-provider.js';
import type { KeyProvider } from './storage/encryption/key-provider.js';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ConsumerRunner } from './events/consumer-runner.js';
import { parseDigest } from './oci/digest.js';
import { BerthError } from './errors/berth-error.js';
import { scanOnPush } from './scan/scan-on-push.js';
import { ScanWorker } from './scan/scan-worker.js';
import { ScanService } from './scan/scan-service.js';
import { FindingsService, SCAN_REMATCH_JOB } from './scan/findings.js';
import { VulnDbService } from './scan/vulndb-service.js';
import { ScanPolicies } from './scan/scan-policy.js';
import { SbomAttacher, type ArtifactStore } from './scan/sbom-attach.js';
import { BERTH_VERSION } from './lib/version.js';
import { PermanentScanError, type ImageContent } from './scan/image.js';
import { SCANNER, defaultCatalogers, detectDistro } from './scan/catalogers.js';
import { STORAGE_ENCRYPTION_JOB, StorageKeys, type WalkReport } from './registry/storage-keys.js';

export interface Berth {
  config: ResolvedConfig;
  meta: MetadataStore;
  store: StorageDriver;
  services: Services;
  accounts: Accounts;
  organizations: Organizations;
  gc: GarbageCollector;
  /** the online collection's reviewer (gc.review) */
  gcReviewer: GcReviewer;
  /** encryption at rest, when enabled (or while a store encrypted earlier is being decrypted) */
  storageKeys?: StorageKeys;
  /** the job runtime: jobs are defined and started by `serve`; any process may queue runs and read their history */
  jobs: Scheduler;
  /** takes manifests from the scan queue and catalogues them (stepped by serve, or by `berth scan --wait`) */
  scanner: ScanWorker;
  /** LDAP / Active Directory accounts, when configured */
  directory?: DirectoryAccounts;
  ldap?: LdapDirectory;
  close(): Promise<void>;
}

/** Where webhooks may go: never metadata services; loopback and link-local only when allowed. */
export function webhookPolicy(config: ResolvedConfig): AddressPolicy {
  return {
    allowLoopback: config.webhooks.allowLoopback, allowPrivate: config.webhooks.allowPrivate,
    settings: { loopback: 'webhooks.allowLoopback', private: 'webhooks.allowPrivate' },
  };
}

/** The directory client from auth.ldap (the service password from the config, the env or a file). */
export async function ldapDirectory(config: ResolvedConfig): Promise<LdapDirectory | undefined> {
  const l = config.auth.ldap;
  if (!l.enabled) return undefined;
  // Loaded only when configured: most commands and registries never need the LDAP client.
  const { LdapDirectory } = await import('./auth/ldap/ldap-directory.js');
  const bindPassword = l.bindPasswordFile ? readSecretFile('auth.ldap.bindPasswordFile', l.bindPasswordFile) : l.bindPassword;
  return new LdapDirectory({
    url: l.url!, bindDn: l.bindDn, bindPassword, startTls: l.startTls, caFile: l.caFile, insecureSkipVerify: l.insecureSkipVerify, timeoutMs: l.timeout,
    userBaseDn: l.userBaseDn!, userFilter: l.userFilter, usernameAttribute: l.usernameAttribute, emailAttribute: l.emailAttribute,
    displayNameAttribute: l.displayNameAttribute, disabledFilter: l.disabledFilter,
    groups: { ...l.groups },
  });
}

// Asynchronous stdout: lines written while a write is in flight are coalesced into one write(2).
// A stdout nobody reads must not grow memory without bound: lines past 16 MiB waiting are dropped.
// Built directly, not through pino.destination(), which would add a blocking flush at process exit.
// sonic-boom is CommonJS: its default import is the class itself.
const SonicBoom = sonicBoom as unknown as typeof import('sonic-boom').SonicBoom;
const destination = new SonicBoom({ fd: 1, sync: false, maxLength: 16 * 1024 * 1024 });

/**
 * Flushes buffered log lines within `ms`. Resolves false when stdout did not drain (nobody reads it):
 * a write is then stuck in libuv's thread pool, and a normal exit would wait for it forever.
 */
export function flushLogs(ms = 2000): Promise<boolean> {
  // sonic-boom's flush() does not wait for a write in flight; its own state does tell.
  const idle = () => {
    const d = destination as unknown as { _writing: boolean; _len: number };
    return !d._writing && d._len === 0;
  };
  return new Promise((resolve) => {
    const deadline = Date.now() + ms;
    const check = () => {
      if (idle()) return resolve(true);
      if (Date.now() > deadline) return resolve(false);
      setTimeout(check, 20);
    };
    check();
  });
}

/** Exits, even when stdout is stuck: then the only way out that does not wait on it is SIGKILL. */
async function exitProcess(code: number): Promise<never> {
  if (!(await flushLogs())) {
    process.stderr.write('berth: stdout is not being read; log lines lost, stopping hard\n');
    process.kill(process.pid, 'SIGKILL');
  }
  process.exit(code);
}

export function createLogger(config: ResolvedConfig): Logger {
  return pino({
    level: config.log.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.password', '*.secret', '*.token'], censor: '[redacted]' },
  }, destination);
}


/** A process that dies leaves its jobs to another one after this long (at once, if it was on this machine). */
const JOB_LEASE_TTL_MS = 15_000;

/** What features plug into the access decision: fact sources about manifests and rules on pulls (none yet). */
export interface BerthPlugins { factSources?: ManifestFactSource[]; pullRules?: PullRule[] }

function openMetadata(config: ResolvedConfig): Promise<MetadataStore> {
  const d = config.database;
  if (d.dialect === 'postgres') {
    const pgc = d.postgres;
    return openPostgres({
      url: pgc.url!, password: pgc.passwordFile ? readSecretFile('database.postgres.passwordFile', pgc.passwordFile) : undefined, poolSize: pgc.poolSize,
      statementTimeoutMs: pgc.statementTimeout * 1000, connectTimeoutMs: pgc.connectTimeout * 1000,
    });
  }
  return openSqlite({ path: d.sqlite.path, lockTimeoutMs: d.sqlite.lockTimeout * 1000 });
}

/** A secret kept in a file (`setting` names it): its content without the trailing newline editors add. */
/** The configured storage driver; secrets from their files, else the SDK's own chain (S3). */
function openStorage(config: ResolvedConfig): StorageDriver {
  const st = config.storage;
  if (st.driver === 'memory') return new MemoryDriver();
  if (st.driver !== 's3') return new FilesystemDriver(st.filesystem.root);
  const s3 = st.s3;
  const accessKeyId = s3.accessKeyIdFile ? readSecretFile('storage.s3.accessKeyIdFile', s3.accessKeyIdFile) : s3.accessKeyId;
  const secretAccessKey = s3.secretAccessKeyFile ? readSecretFile('storage.s3.secretAccessKeyFile', s3.secretAccessKeyFile) : s3.secretAccessKey;
  return new S3Driver({
    endpoint: s3.endpoint, bucket: s3.bucket!, region: s3.region, prefix: s3.prefix, forcePathStyle: s3.forcePathStyle,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined, partSize: s3.partSize * 1024 * 1024,
  });
}

function readSecretFile(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new Error(`cannot read ${setting} ${file}: ${(e as Error).message}`);
  }
}

export async function createBerth(config: ResolvedConfig, log?: Logger, plugins: BerthPlugins = {}, opts: { spool?: boolean } = {}): Promise<Berth> {
  const meta = await openMetadata(config);
  // Servers spool records of reads (audit/spool.ts); the CLI's few records go straight to the database.
  const outbox = new Outbox({ publicAddr: config.publicUrl, dialect: meta.dialect });
  const journal = new Journal(meta, {
    failClosed: config.audit.failClosed, log,
    spool: opts.spool ? { dir: config.audit.spool.dir ?? path.join(config.data, 'audit-spool'), maxBytes: config.audit.spool.maxBytes } : undefined,
    appendEvents: (tx, groups) => outbox.appendGroups(tx, groups as { ctx: RequestContext; events: NewEvent[]; at: number }[]),
  });
  const inner: StorageDriver = openStorage(config);
  let storageKeys: StorageKeys | undefined;
  try {
    storageKeys = await openEncryption(config, meta, inner, journal);
  } catch (e) {
    await meta.close();
    throw e;
  }
  const store = storageKeys?.driver ?? inner;
  const gc = new GarbageCollector(meta, store);
  const r = config.gc.review;
  const gcQueue = new GcQueue({ afterUpload: r.afterUpload * 1000, afterManifestDelete: r.afterManifestDelete * 1000, afterUnlink: r.afterUnlink * 1000 });
  const gcReviewer = new GcReviewer(meta, store, config.gc.grace * 1000);
  // A blob checked in a repository is spared by collections for (at least) three quarters of the grace period.
  const blobs = new BlobService(meta, store, journal, outbox, {
    touchAfterMs: config.gc.grace > 0 ? (config.gc.grace * 1000) / 4 : undefined, gcQueue,
    redirectSeconds: config.storage.driver === 's3' && config.storage.s3.redirect ? config.storage.s3.redirectExpiry : undefined,
  });
  const jobs = new Scheduler(meta, { log, leaseTtlMs: JOB_LEASE_TTL_MS, concurrency: 2 });
  const box = new SecretBox(loadOrCreateMasterKey(config.auth.masterKeyFile ?? path.join(config.data, 'secrets', 'master.key')));
  const accounts = new Accounts(meta.db, meta.transaction, journal, outbox, meta.invalidations);
  const ldap = await ldapDirectory(config);
  // A name the directory knows is a directory user's namespace, even before their first login.
  const organizations = new Organizations(meta.db, meta.transaction, journal, outbox, ldap ? async (name) => ((await ldap.lookup(name)) ? 'a directory user has this name' : null) : undefined);
  const tokens = new TokenService(new DbKeyStore(meta.db, box), {
    issuer: config.auth.issuer, service: config.auth.service, lifetime: config.auth.tokenLifetime, refreshLifetime: config.auth.refreshLifetime,
    rotateAfter: config.auth.keyRotationDays * 86_400,
  });
  const sessions = new Sessions(meta.db, config.auth.session);
  const directory = ldap ? new (await import('./auth/directory-accounts.js')).DirectoryAccounts(meta.db, meta.transaction, accounts, sessions, ldap, { adminGroups: config.auth.ldap.adminGroups }, journal, outbox, log) : undefined;
  const manifests = new ManifestService(meta, journal, outbox, gcQueue);
  const webhooks = new Webhooks(meta.db, meta.transaction, box, webhookPolicy(config), journal, outbox);
  // Pull events are written only while some endpoint wants them; serve() keeps the subscriptions fresh.
  outbox.wantsEvent = () => webhooks.wants('pull');
  // Vulnerability scanning and signature trust register their fact sources and pull rules here.
  const scanPolicies = new ScanPolicies(meta, journal);
  const pullRules = new PullRules({ sources: [scanPolicies.factSource(), ...(plugins.factSources ?? [])], rules: [scanPolicies.rule(), ...(plugins.pullRules ?? [])] });
  const uploads = new UploadService(meta, store, blobs, undefined, {
    idleExpiryWhenFullMs: config.registry.uploadExpiryWhenFull * 1000,
    onRelieved: (removed) => log?.warn(removed, 'storage full: idle upload sessions removed'),
  });
  const services: Services = {
    config,
    blobs,
    uploads,
    manifests,
    deletion: new RepositoryDeletion(meta, store, manifests, journal, outbox, { deleteEnabled: config.registry.deleteEnabled, gcQueue }),
    journal,
    outbox,
    pullSummaries: new PullSummaries(journal, 5000, (e) => log?.error({ err: e }, 'blob pull summary not recorded')),
    browser: new RepositoryBrowser(meta.db, store),
    gcRuns: new GcRuns(jobs),
    findings: new FindingsService(meta, journal, outbox),
    scanPolicies,
    vulndb: new VulnDbService(meta, journal, {
      trustedKeyFiles: config.vulndb.trustedKeys, requireSignature: config.vulndb.requireSignature, maxAgeDays: config.vulndb.maxAge,
      tmpDir: path.join(config.data, 'tmp'),
    }),
    scans: new ScanService(meta, { toolVersion: BERTH_VERSION, registry: config.publicUrl ? new URL(config.publicUrl).host : undefined }),
    webhooks,
    audit: new AuditService(meta, {
      signingKeyFile: config.audit.signingKeyFile ?? path.join(config.data, 'secrets', 'audit-signing.key'),
      trustedKeyFiles: config.audit.trustedKeys,
      archiveDir: config.audit.archiveDir ?? path.join(config.data, 'audit-archive'),
      settle: () => journal.settle(),
    }),
    repositories: { list: (n, last, contains) => listRepositories(meta.db, n, last, contains, meta.dialect), exists: async (name) => (await findRepositoryId(meta.db, name)) !== undefined },
    auth: new AuthService(meta.db, config.auth.anonymousPull, accounts, tokens, new LoginThrottle(meta, config.auth.throttle, journal, outbox), new AccessTokens(meta.db, meta.transaction, journal),
      sessions, new SecondFactor(meta.db, box, 'Berth', meta.transaction, journal), journal, config.auth.organizationCreation === 'users', directory,
      config.auth.pushCreatesOrganization, pullRules),
    organizations,
    // The store under encryption at rest is probed: the question is whether the disk takes writes.
    readiness: new Readiness(meta, inner, { readDatabase: () => probeDatabase(meta.db), onStorageFull: () => uploads.storageFull() }),
  };
  // Deleting a user with their repositories goes through the registry's deletion, in the same transaction.
  accounts.deleteRepositories = (tx, ns, ctx) => services.deletion.deleteNamespace(tx, ns, ctx);
  // Scans: catalogue, SBOMs as referrers, findings. serve's workers step it; `berth scan --wait` may too.
  const sboms = new SbomAttacher(registryArtifacts(services), { toolVersion: BERTH_VERSION, registry: config.publicUrl ? new URL(config.publicUrl).host : undefined });
  const scanner = new ScanWorker(meta, (repository) => registryContent(services.manifests, services.blobs, repository), {
    holder: jobs.holder, catalogers: defaultCatalogers(), detectDistro, scanner: SCANNER,
    leaseMs: config.scan.lease * 1000, maxAttempts: config.scan.maxAttempts, log,
    onCatalogued: async (q, catalog) => {
      if (config.scan.attachSboms) await sboms.attach(q.repository, catalog);
      await services.findings.match(q.digest, catalog);
    },
  });
  return { config, meta, store, services, accounts, organizations, gc, gcReviewer, storageKeys, jobs, directory, ldap, scanner,
    async close() {
      // What the spools hold goes into the chain while the database is open (or stays for the next start).
      await services.pullSummaries.close();
      await journal.close();
      // Nothing of the job runtime may touch the database once it is closed.
      await jobs.stop();
      await ldap?.close();
      await storageKeys?.provider.close();
      await meta.close();
    },
  };
}

/**
 * Encryption at rest: the key provider the configuration names, checked against the database. None
 * while encryption is off and nothing was ever encrypted (or everything has been decrypted since).
 */
async function openEncryption(config: ResolvedConfig, meta: MetadataStore, inner: StorageDriver, journal: Journal): Promise<StorageKeys | undefined> {
  const enc = config.storage.encryption;
  const active = await StorageKeys.activeKeys(meta);
  if (!enc.enabled && active.length === 0) return undefined;
  let provider: KeyProvider;
  let where: string;
  if (enc.provider === 'file') {
    where = `the key file ${enc.keyFile}`;
    if (!FileKeyProvider.exists(enc.keyFile)) {
      if (active.length > 0) {
        throw new Error(`the storage key file ${enc.keyFile} is missing, but this registry's blobs are encrypted with ${active.map((k) => k.id).join(', ')}; ` +
          'restore it from its backup (Berth never makes a new key over encrypted data)');
      }
      // The first start with encryption: a new key, unless the store already holds encrypted files.
      if (await StorageKeys.holdsEncryptedData(inner)) {
        throw new Error(`the store holds encrypted files but ${enc.keyFile} is missing; restore the key file (Berth never makes a new key over encrypted data)`);
      }
      FileKeyProvider.create(enc.keyFile);
    }
    provider = FileKeyProvider.open(enc.keyFile);
  } else {
    const { module, tokenLabel, pinFile, keyLabel } = enc.pkcs11;
    where = `the PKCS#11 token "${tokenLabel}" (keys labelled "${keyLabel}")`;
    const pin = readSecretFile('storage.encryption.pkcs11.pinFile', pinFile!);
    // Loaded only here: a registry without an HSM never loads the native binding.
    const { Pkcs11KeyProvider } = await import('./storage/encryption/pkcs11-key-provider.js');
    provider = await Pkcs11KeyProvider.open({ module: module!, tokenLabel: tokenLabel!, pin, keyLabel });
  }
  try {
    return await StorageKeys.open(meta, inner, provider, journal, { encryptWrites: enc.enabled, where });
  } catch (e) {
    await provider.close();
    throw e;
  }
}

/**
 * A registry without users gets `admin`: with BERTH_ADMIN_PASSWORD, or a random password printed once
 * on the terminal (stderr, never the JSON log).
 */
async function bootstrapAdmin(berth: Berth, log?: Logger): Promise<void> {
  const res = await berth.accounts.ensureAdmin(process.env.BERTH_ADMIN_PASSWORD || undefined);
  // Namespaces left without an owner (by older versions, or pushed while auth.enabled was false) go to the administrators.
  await adoptOrphanedNamespaces(berth.meta.db, berth.meta.transaction, berth.services.journal, log);
  if (res.generated) {
    process.stderr.write(
      `\nBerth created the administrator account (shown only this once):\n  user:     admin\n  password: ${res.generated}\n` +
      `Log in with: docker login ${berth.config.listen}  (or podman/skopeo login)\n\n`,
    );
  }
}

/**
 * A write of the start (trash recovery, bootstrap) that the disk or the database refuses (read-only, full,
 * locked) does not stop the start: the registry serves reads meanwhile, /readyz says what is wrong, and the
 * step runs at the next start. Any other failure does.
 */
async function startupWrite(log: Logger, what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const infra = infrastructureError(e);
    if (!infra) throw e;
    log.warn({ err: { message: (e as Error).message, code: (e as { code?: string }).code } }, `${what} skipped: ${infra.message}`);
  }
}

/** `berth serve`: listens, optionally collects garbage on an interval, and shuts down gracefully. */
export async function serve(config: ResolvedConfig): Promise<void> {
  const log = createLogger(config);
  const workers = config.http.workers === 0 ? availableParallelism() : config.http.workers;
  if (workers > 1 && cluster.isPrimary) return runPrimary(config, workers, log);

  const berth = await createBerth(config, log, {}, { spool: true });
  // Before the first request: records that a stopped process left in the spool go into the chain.
  await berth.services.journal.open();
  await berth.services.pullSummaries.open();
  if (cluster.isPrimary) {
    await startupWrite(log, 'trash recovery', () => berth.gc.recoverTrash());
    await startupWrite(log, 'administrator and namespace bootstrap', () => bootstrapAdmin(berth, log));
  }
  // Queued before the first request, so that whoever asks (berth keys status) sees the store is not yet as configured.
  if (berth.storageKeys) await startupWrite(log, 'encryption walk queueing', () => queueEncryptionWalk(berth, log));
  // Loaded here, not at the top: the CLI's other commands open the data without the HTTP stack.
  const { buildServer, buildMetricsServer } = await import('./http/server.js');
  const app = await buildServer(berth.services, { logger: log });
  const { host, port } = parseListen(config.listen);
  await app.listen({ host, port });
  const metricsApp = config.metrics.listen ? await buildMetricsServer(berth.services, { logger: log }) : undefined;
  if (metricsApp) {
    const m = parseListen(config.metrics.listen!);
    await metricsApp.listen({ host: m.host, port: m.port });
  }
  const scheme = tlsEnabled(config.tls) ? 'https' : 'http';
  if (tlsEnabled(config.tls)) {
    process.on('SIGHUP', () => {
      try {
        const context = secureContextOptions(config.tls);
        (app.server as unknown as TlsServer).setSecureContext(context);
        if (metricsApp) (metricsApp.server as unknown as TlsServer).setSecureContext(context);
        log.info({ cert: config.tls.cert }, 'TLS certificate reloaded');
      } catch (e) {
        log.error({ err: e }, 'TLS certificate reload failed; keeping the previous one');
      }
    });
  }
  log.info({ url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`, data: config.data, storage: berth.store.name, database: berth.meta.dialect, workers }, 'listening');
  if (metricsApp) log.info({ url: `${scheme}://${config.metrics.listen}` }, 'metrics listening');

  // Subscriptions known before the first request's events are written; then refreshed by a per-process job.
  await berth.services.webhooks.refreshSubscriptions();
  defineJobs(berth, log);
  berth.jobs.start();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => { log.warn('shutdown timeout: closing remaining connections'); void exitProcess(1); }, config.http.shutdownTimeout * 1000);
    force.unref();
    await Promise.all([app.close(), metricsApp?.close()]);
    // The spools empty into the chain before the last checkpoint is signed.
    await berth.services.pullSummaries.close();
    await berth.services.journal.close();
    // Running jobs are cancelled (a collection stops between batches; a queued run goes back to the queue
    // for another process), services stop, the checkpoint lease's holder signs a last checkpoint, and the
    // leases are released: only then does the database close.
    await berth.jobs.stop();
    await berth.close();
    log.info('stopped');
    await exitProcess(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** The storage encryption walk as a job of the runtime (serve, and `berth keys rotate --wait`). */
export function defineEncryptionJob(berth: Berth, log?: Logger): void {
  const storageKeys = berth.storageKeys;
  if (!storageKeys) return;
  berth.jobs.define({
    // Retried for about 45 minutes: busy uploads become idle (or convert themselves on their next chunk) meanwhile.
    name: STORAGE_ENCRYPTION_JOB, maxAttempts: 8, backoff: { baseMs: 60_000, maxMs: 600_000 },
    async run(ctx) {
      const report = await storageKeys.walk({ signal: ctx.signal, progress: (phase, fields) => { ctx.progress(phase, fields); log?.info(fields, `storage encryption: ${phase}`); } });
      log?.info({ report }, 'storage encryption walk finished');
      if (!report.complete) throw new Error(`storage encryption walk left ${report.failed} file(s) unconverted and ${report.skippedUploads} busy upload(s) (${report.mode}): ${report.errors.slice(0, 3).join('; ')}`);
      return report;
    },
  });
}

/**
 * Queues the storage encryption walk unless the newest one finished and left the store as configured. The
 * newest, not the last finished: a walk of the other mode that was cut off (encryption turned off, then on
 * again) has written files in its form since.
 */
export async function queueEncryptionWalk(berth: Berth, log?: Logger): Promise<void> {
  const keys = berth.storageKeys!;
  const [newest] = await berth.jobs.list(STORAGE_ENCRYPTION_JOB, 1);
  const last = newest?.state === 'done' ? (newest.result as WalkReport) : undefined;
  if (StorageKeys.upToDate(last, keys.encryptWrites, await keys.currentKey())) return;
  const { run, created } = await berth.jobs.enqueue(STORAGE_ENCRYPTION_JOB, undefined, { unique: true });
  if (created) log?.info({ run: run.id, encrypt: keys.encryptWrites }, 'storage encryption walk queued');
}

/**
 * The background work of `serve`, as jobs of the runtime: each one runs in one process at a time (the
 * holder of its lease), whatever the number of workers, and moves to another process when its holder dies.
 */
function defineJobs(berth: Berth, log: Logger): void {
  const { config, jobs, services } = berth;

  // Garbage collection: on gc.interval, and whenever the API queues a run (with its parameters).
  jobs.define({
    name: GC_JOB, every: config.gc.interval > 0 ? config.gc.interval * 1000 : undefined,
    maxAttempts: 3, backoff: { baseMs: 10_000, maxMs: 120_000 },
    async run(ctx) {
      const params = (ctx.params ?? {}) as GcParams;
      const report = await berth.gc.run({
        dryRun: params.dryRun ?? false, graceSeconds: config.gc.grace, uploadExpirySeconds: config.registry.uploadExpiry, signal: ctx.signal,
        sweepFilesEveryMs: config.gc.sweepInterval * 1000,
        progress: (msg, fields) => { ctx.progress(msg, fields); log.info(fields, msg); },
      });
      log.info({ report }, 'garbage collection finished');
      return report;
    },
    async onFinish(run) {
      // A run started from the API is audited as its caller's, by the process that ran it.
      const params = (run.params ?? {}) as GcParams;
      if (!params.requestedBy) return;
      await services.journal.record(params.requestedBy as unknown as RequestContext, [{
        action: 'gc.run', resource: 'storage', outcome: run.state === 'done' ? 'success' : 'failure',
        detail: { id: run.id, dryRun: params.dryRun ?? false, report: (run.result ?? null) as Record<string, unknown> | null, error: run.error },
      }]);
    },
  });

  // Encryption at rest: converts the store to what the configuration asks (encrypted under the current key,
  // or plain) and re-wraps data keys after a rotation; queued at start when the last walk left it otherwise,
  // and by `berth keys rotate`.
  defineEncryptionJob(berth, log);

  // Directory users who left (or were disabled) lose access between logins too.
  const directory = berth.directory;
  if (directory && config.auth.ldap.syncInterval > 0) {
    jobs.define({
      name: 'directory.sync', every: config.auth.ldap.syncInterval * 1000,
      async run() {
        const report = await directory.sync();
        log.info({ report }, 'directory sync finished');
        return report;
      },
    });
  }

  // The audit chain's head is signed regularly, and a last time at a clean stop (by the lease's holder).
  const audit = services.audit;
  jobs.define({ name: 'audit.checkpoint', every: config.audit.checkpointInterval * 1000, runAtStop: true, run: () => audit.checkpoint() });
  // Old records are archived and purged when a retention is set.
  if (config.audit.retentionDays > 0) {
    jobs.define({
      name: 'audit.retention', every: 3600_000, runAtStart: true,
      async run() {
        const r = await audit.archive(Date.now() - config.audit.retentionDays * 86_400_000);
        if (r.file) log.info({ records: r.records, upTo: r.upTo, file: r.file }, 'audit records archived and purged');
        return r;
      },
    });
  }

  // Audit records go to the SIEM as they are written (the cursor is in the database).
  const sl = config.audit.syslog;
  if (sl.enabled) {
    jobs.service({
      name: 'audit.syslog-forward',
      async run(signal) {
        const forwarder = new SyslogForwarder(berth.meta, { host: sl.host!, port: sl.port, appName: sl.appName, tls: sl.tls.enabled ? { ca: sl.tls.ca, cert: sl.tls.cert, key: sl.tls.key, servername: sl.tls.servername } : undefined }, log);
        let failing = false;
        try {
          while (!signal.aborted) {
            try {
              await forwarder.forward();
              if (failing) log.info('syslog forwarding resumed');
              failing = false;
            } catch (e) {
              if (!failing) log.error({ err: { message: (e as Error).message } }, 'syslog forwarding failed; retrying');
              failing = true;
            }
            await pause(1000, signal);
          }
          // The records written up to the stop go out before it.
          await forwarder.forward().catch(() => undefined);
        } finally {
          await forwarder.close();
        }
      },
    });
  }

  // Pull events are written only while some endpoint wants them (createBerth wires the outbox to this cache);
  // every process follows the subscriptions.
  const webhooks = services.webhooks;
  jobs.perProcess({ name: 'webhooks.subscriptions', every: 2000, run: () => webhooks.refreshSubscriptions() });

  // Online collection: every process reviews what is due, a batch per transaction (claimed rows are
  // skipped by the others on PostgreSQL), until nothing due is left.
  if (config.gc.review.interval > 0) {
    jobs.perProcess({
      name: 'gc.review', every: config.gc.review.interval * 1000,
      run: async () => {
        const total = await berth.gcReviewer.drain(Date.now(), 50, config.gc.review.batch);
        if (total.linksRemoved + total.blobsRemoved > 0) log.info({ review: total }, 'online garbage collection removed unreferenced blobs');
        return total;
      },
    });
  }

  // Scans: one process queues pushed manifests (a consumer of the outbox, under its lease); every process
  // takes due manifests from the queue, one at a time, a claim each.
  if (config.scan.onPush) {
    jobs.service({
      name: 'scan.on-push',
      async run(signal) {
        const runner = new ConsumerRunner(berth.meta, scanOnPush(), { outbox: services.outbox, log });
        runner.start();
        try {
          await pause(Infinity, signal);
        } finally {
          await runner.stop();
        }
      },
    });
  }
  if (config.scan.interval > 0) {
    const worker = berth.scanner;
    // Catalogues whose findings predate the last import are matched again (one process at a time); an
    // import also queues a run at once.
    jobs.define({
      name: SCAN_REMATCH_JOB, every: 60_000, maxAttempts: 3, backoff: { baseMs: 10_000, maxMs: 120_000 },
      async run(ctx) {
        const r = await services.findings.rematchStale(ctx.signal, (n) => ctx.progress('scan: matching stored catalogues again', { images: n }));
        if (r.matched > 0) log.info(r, 'stored image catalogues matched against the vulnerability database again');
        return r;
      },
    });
    jobs.perProcess({ name: 'scan.work', every: config.scan.interval * 1000, run: (signal) => worker.drain(signal) });
  }

  // Webhook deliveries: the dispatcher runs in the process that holds its lease.
  if (config.webhooks.enabled) {
    const w = config.webhooks;
    // A started dispatcher wakes on every outbox append itself.
    let dispatcher: WebhookDispatcher | undefined;
    jobs.service({
      name: 'webhooks.deliver',
      async run(signal) {
        const d = new WebhookDispatcher(berth.meta, webhooks, {
          timeoutMs: w.timeout * 1000, maxAttempts: w.maxAttempts, backoffBaseMs: w.backoffBase * 1000, backoffMaxMs: w.backoffMax * 1000,
          concurrency: w.concurrency, policy: webhookPolicy(config),
        }, log);
        dispatcher = d;
        d.start();
        try {
          await pause(Infinity, signal);
        } finally {
          dispatcher = undefined;
          await d.stop();
        }
      },
    });
  }

  // Ended sessions leave rows behind; they are swept hourly.
  jobs.define({
    name: 'auth.session-sweep', every: 3600_000,
    async run() {
      const n = await services.auth.sessions.purgeExpired();
      if (n > 0) log.info({ sessions: n }, 'expired sessions removed');
      return { removed: n };
    },
  });
}

/** An image as the registry holds it in `repository`, for the scanner. */
function registryContent(manifests: ManifestService, blobs: BlobService, repository: string): ImageContent {
  const digestOf = (digest: string) => {
    const d = parseDigest(digest);
    if (typeof d !== 'object') throw new PermanentScanError(`${digest} is not a digest`);
    return d;
  };
  return {
    async manifest(digest) {
      try {
        const m = await manifests.get(repository, { digest: digestOf(digest) }, undefined);
        return { mediaType: m.mediaType, content: m.content };
      } catch (e) {
        if (e instanceof BerthError && e.code === 'MANIFEST_UNKNOWN') throw new PermanentScanError(`manifest ${digest} is not in ${repository}`);
        throw e;
      }
    },
    async blob(digest, size) {
      const b = await blobs.open(digestOf(digest), size, undefined);
      return Buffer.isBuffer(b) ? Readable.from([b]) : b;
    },
  };
}

/** The registry as the SBOM attacher writes to it: as the system, through the same services as a client. */
function registryArtifacts(s: Services): ArtifactStore {
  const digestOf = (digest: string) => {
    const d = parseDigest(digest);
    if (typeof d !== 'object') throw new Error(`${digest} is not a digest`);
    return d;
  };
  return {
    async manifestHead(repository, digest) {
      const m = await s.manifests.head(repository, { digest: digestOf(digest) }, undefined);
      return { mediaType: m.mediaType, size: m.size };
    },
    async putBlob(repository, data) {
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      return s.uploads.monolithic(repository, digestOf(digest), { body: Readable.from([data]), length: data.length });
    },
    async putManifest(repository, content, mediaType) {
      return (await s.manifests.put(repository, { digest: digestOf(`sha256:${createHash('sha256').update(content).digest('hex')}`) }, content, mediaType)).digest;
    },
    async referrers(repository, subject, artifactType) {
      return (await s.manifests.referrers(repository, digestOf(subject), artifactType, 1000)).manifests;
    },
    async deleteManifest(repository, digest) {
      await s.manifests.delete(repository, { digest: digestOf(digest) });
    },
  };
}

/** Waits `ms` (Infinity: forever), or until the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    function done() { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function runPrimary(config: ResolvedConfig, workers: number, log: Logger): Promise<void> {
  // Migrations and crash recovery run once, before any worker opens the database.
  const berth = await createBerth(config);
  await startupWrite(log, 'trash recovery', () => berth.gc.recoverTrash());
  await startupWrite(log, 'administrator and namespace bootstrap', () => bootstrapAdmin(berth, log));
  await berth.close();
  let stopping = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log.error({ worker: worker.process.pid, code, signal }, 'worker exited; starting another');
    cluster.fork();
  });
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Certificate reloads reach every worker.
  process.on('SIGHUP', () => { for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP'); });
}
