// The one typed configuration, validated once at start. Keys are camelCase in YAML;
// environment variables are BERTH_<SECTION>__<KEY> in SNAKE_CASE (see load.ts).
import { z } from 'zod';

const duration = z.number().int().nonnegative();

export const configSchema = z.strictObject({
  /** HOST:PORT to listen on */
  listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT')
    .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535').default('127.0.0.1:5000'),
  /** data directory: SQLite file and filesystem blobs live here by default */
  data: z.string().min(1).default('./data'),
  /** absolute base URL for Location headers, e.g. behind a proxy (default: relative Locations) */
  publicUrl: z.string().url().optional(),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
  http: z.strictObject({
    /** worker processes sharing the listening socket (0 = one per core) */
    workers: z.number().int().min(0).max(64).default(1),
    /** seconds in-flight requests get to finish on SIGTERM */
    shutdownTimeout: duration.default(30),
    /** trust X-Forwarded-* from these proxies (true = any) */
    trustProxy: z.union([z.boolean(), z.string(), z.array(z.string())]).default(false),
    keepAliveTimeout: duration.default(65),
  }).prefault({}),
  auth: z.strictObject({
    /** off only for a registry that something else already guards: then anyone may do anything */
    enabled: z.boolean().default(true),
    /** anonymous callers may pull public content (false: every pull needs an account) */
    anonymousPull: z.boolean().default(true),
    /** accept Basic credentials sent straight to /v2/ (simple clients), besides bearer tokens */
    basicOnRegistry: z.boolean().default(true),
    /** seconds an access token lives (the token spec's floor is 60) */
    tokenLifetime: z.number().int().min(60).max(3600).default(300),
    /** seconds a refresh token (offline_token=true) lives */
    refreshLifetime: z.number().int().positive().default(30 * 86400),
    /** days a signing key signs before a new one replaces it (the old one verifies until its tokens expire) */
    keyRotationDays: z.number().positive().default(30),
    issuer: z.string().min(1).default('berth'),
    /** the `service` in challenges and the tokens' audience */
    service: z.string().min(1).default('berth'),
    throttle: z.strictObject({
      /** failed logins for one account from one client address within `window` before that pair is locked for `lockout` */
      accountFailures: z.number().int().positive().default(10),
      /** failed logins for one account from anywhere within `window` before the account itself is locked: slower, so that guessing from many addresses stops too */
      accountWideFailures: z.number().int().positive().default(100),
      /** failed logins from one client address within `window` before it is locked out */
      addressFailures: z.number().int().positive().default(50),
      window: duration.default(900),
      lockout: duration.default(900),
    }).prefault({}),
    /** 32-byte key that seals secrets stored in the database (default <data>/secrets/master.key) */
    masterKeyFile: z.string().optional(),
    session: z.strictObject({
      /** seconds a web/API login session lives at most */
      lifetime: z.number().int().min(60).default(12 * 3600),
      /** seconds without a request after which a session ends */
      idleTimeout: z.number().int().min(60).default(3600),
    }).prefault({}),
    /** LDAP / Active Directory logins (bind and search); local accounts keep working beside them */
    ldap: z.strictObject({
      enabled: z.boolean().default(false),
      /** ldap://host:389 or ldaps://host:636; several space-separated URLs are tried in order */
      url: z.string().regex(/^ldaps?:\/\/\S+( ldaps?:\/\/\S+)*$/, 'must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]').optional(),
      /** service account for searches (anonymous search when absent) */
      bindDn: z.string().optional(),
      bindPassword: z.string().optional(),
      /** file holding the service account's password (instead of bindPassword) */
      bindPasswordFile: z.string().optional(),
      startTls: z.boolean().default(false),
      /** PEM CA bundle trusted for ldaps:// and StartTLS */
      caFile: z.string().optional(),
      insecureSkipVerify: z.boolean().default(false),
      /** milliseconds for connecting and for each operation */
      timeout: z.number().int().positive().default(10_000),
      userBaseDn: z.string().optional(),
      /** {username} is replaced by the escaped login name; AD: (&(objectClass=user)(sAMAccountName={username})) */
      userFilter: z.string().default('(&(objectClass=inetOrgPerson)(uid={username}))'),
      usernameAttribute: z.string().default('uid'),
      emailAttribute: z.string().default('mail'),
      displayNameAttribute: z.string().default('cn'),
      /** entries matching it count as disabled (AD's userAccountControl disabled bit always does) */
      disabledFilter: z.string().optional(),
      groups: z.strictObject({
        /** memberOf: the attribute on the user; search: group entries that list the user */
        mode: z.enum(['memberOf', 'search']).default('memberOf'),
        memberOfAttribute: z.string().default('memberOf'),
        groupBaseDn: z.string().optional(),
        groupFilter: z.string().optional(),
        memberAttribute: z.string().default('member'),
        /** nested groups: none, matchingRuleInChain (Active Directory), or recursive (any directory) */
        nested: z.enum(['none', 'matchingRuleInChain', 'recursive']).default('none'),
        maxDepth: z.number().int().min(1).max(50).default(10),
      }).prefault({}),
      /** members of these groups (DNs) are system administrators */
      adminGroups: z.array(z.string()).default([]),
      /** seconds between background syncs of directory users (team membership, departures); 0 = only at login */
      syncInterval: duration.default(3600),
    }).prefault({}).refine((l) => !l.enabled || (Boolean(l.url) && Boolean(l.userBaseDn)), 'auth.ldap.enabled needs url and userBaseDn')
      .refine((l) => !l.bindPassword || !l.bindPasswordFile, 'auth.ldap.bindPassword and bindPasswordFile exclude each other')
      .refine((l) => l.groups.mode !== 'search' || Boolean(l.groups.groupBaseDn), 'auth.ldap.groups.mode search needs groups.groupBaseDn')
      .refine((l) => l.groups.nested === 'none' || Boolean(l.groups.groupBaseDn), 'nested groups need auth.ldap.groups.groupBaseDn'),
    /** who may create organizations through the API: every user (as in Harbor and Quay) or system admins only */
    organizationCreation: z.enum(['users', 'admins']).default('users'),
    /** a push into a namespace nobody owns creates that organization, owned by the pusher (who must be allowed to create organizations); refused otherwise */
    pushCreatesOrganization: z.boolean().default(false),
  }).prefault({}),
  tls: z.strictObject({
    /** PEM certificate chain; with key, serve HTTPS (re-read on SIGHUP) */
    cert: z.string().optional(),
    /** PEM private key */
    key: z.string().optional(),
    /** PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS) */
    clientCa: z.string().optional(),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  }).prefault({}).refine((t) => Boolean(t.cert) === Boolean(t.key), 'tls.cert and tls.key go together')
    .refine((t) => !t.clientCa || Boolean(t.cert), 'tls.clientCa needs tls.cert and tls.key'),
  storage: z.strictObject({
    driver: z.enum(['filesystem', 'memory', 's3']).default('filesystem'),
    filesystem: z.strictObject({
      /** default: <data>/storage */
      root: z.string().optional(),
    }).prefault({}),
    /** an S3-compatible object store; the bucket must exist, Berth writes only under `prefix` */
    s3: z.strictObject({
      /** full URL (http:// allowed); unset: AWS's endpoint for the region */
      endpoint: z.url({ protocol: /^https?$/ }).optional(),
      bucket: z.string().min(3).max(63).optional(),
      region: z.string().default('us-east-1'),
      prefix: z.string().regex(/^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/, 'a key prefix: segments of letters, digits, . _ - separated by /')
        .refine((p) => !p.split('/').some((seg) => seg === '.' || seg === '..'), 'a key prefix has no . or .. segments').default(''),
      /** the bucket in the path (http://host/bucket/key): what most servers other than AWS want */
      forcePathStyle: z.boolean().default(false),
      /** unset (with the …File variants unset too): the SDK's own chain (AWS_ACCESS_KEY_ID, ~/.aws, instance roles) */
      accessKeyId: z.string().optional(),
      secretAccessKey: z.string().optional(),
      accessKeyIdFile: z.string().optional(),
      secretAccessKeyFile: z.string().optional(),
      /** MiB per uploaded part (at least 5) */
      partSize: z.number().int().min(5).max(5120).default(8),
      /** blob GETs answer 307 to a presigned URL of the bucket, once authorized and on record: clients then read from the store itself */
      redirect: z.boolean().default(false),
      /** seconds a presigned URL stays good */
      redirectExpiry: z.number().int().min(1).max(604_800).default(300),
    }).prefault({}),
    /** encryption at rest: every blob and upload under its own data key, wrapped by a key-encryption key the operator holds */
    encryption: z.strictObject({
      /** new content is written encrypted, and existing content is encrypted in the background; false after true decrypts it (the key is still needed until then) */
      enabled: z.boolean().default(false),
      /** where the key-encryption key lives: a file Berth reads, or a PKCS#11 token (an HSM) that never lets it out */
      provider: z.enum(['file', 'pkcs11']).default('file'),
      /** the key file (created 0600 on the first start with encryption; default <data>/secrets/storage.keys; keep it, and a backup, off the storage volume) */
      keyFile: z.string().optional(),
      pkcs11: z.strictObject({
        /** the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so) */
        module: z.string().optional(),
        /** label of the token that holds the key */
        tokenLabel: z.string().optional(),
        /** file holding the user PIN of the token */
        pinFile: z.string().optional(),
        /** label of the AES key(s) Berth uses (created in the token, non-extractable, when none exists yet) */
        keyLabel: z.string().default('berth-storage'),
      }).prefault({}),
    }).prefault({}).refine((e) => e.provider !== 'pkcs11' || (Boolean(e.pkcs11.module) && Boolean(e.pkcs11.tokenLabel) && Boolean(e.pkcs11.pinFile)),
      'storage.encryption.provider pkcs11 needs pkcs11.module, pkcs11.tokenLabel and pkcs11.pinFile')
      .refine((e) => e.provider === 'file' || e.keyFile === undefined, 'storage.encryption.keyFile is for provider file'),
  }).prefault({}).refine((s) => s.driver !== 's3' || Boolean(s.s3.bucket), 'storage.driver s3 needs storage.s3.bucket')
    .refine((s) => !(s.s3.accessKeyId && s.s3.accessKeyIdFile) && !(s.s3.secretAccessKey && s.s3.secretAccessKeyFile), 'storage.s3: a key and its …File variant exclude each other')
    .refine((s) => Boolean(s.s3.accessKeyId || s.s3.accessKeyIdFile) === Boolean(s.s3.secretAccessKey || s.s3.secretAccessKeyFile), 'storage.s3: accessKeyId and secretAccessKey go together')
    .refine((s) => !(s.s3.redirect && s.encryption.enabled), 'storage.s3.redirect would hand out the bucket\'s bytes, which encryption at rest keeps sealed: not both'),
  database: z.strictObject({
    /** sqlite: one file, one machine (the default); postgres: a server several Berth processes share */
    dialect: z.enum(['sqlite', 'postgres']).default('sqlite'),
    sqlite: z.strictObject({
      /** default: <data>/berth.db */
      path: z.string().optional(),
      /** how long a write waits for another process's write lock before it fails with 503 (reads never wait) */
      lockTimeout: duration.default(10),
    }).prefault({}),
    postgres: z.strictObject({
      /** postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…] (env BERTH_DATABASE__POSTGRES__URL) */
      url: z.string().refine((u) => /^postgres(ql)?:\/\/[^/]+\/[^/?#]+/.test(u), 'must be a postgres:// URL naming the database').optional(),
      /** a file holding the password (instead of one in the URL, which is then only user, host and database) */
      passwordFile: z.string().optional(),
      /** connections each process keeps at most */
      poolSize: z.number().int().min(1).max(1000).default(10),
      /** statements running longer are cancelled by the server (0: no limit) */
      statementTimeout: duration.default(30),
      /** how long getting a connection may take before the request fails with 503 */
      connectTimeout: duration.default(10),
    }).prefault({}),
  }).prefault({}).refine((d) => d.dialect !== 'postgres' || d.postgres.url !== undefined, 'database.dialect postgres needs database.postgres.url'),
  registry: z.strictObject({
    /** allow DELETE of manifests, tags and blobs (UNSUPPORTED otherwise) */
    deleteEnabled: z.boolean().default(true),
    maxManifestBytes: z.number().int().positive().max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    /** advertised as OCI-Chunk-Min-Length; after a shorter PATCH chunk only the closing PUT is accepted */
    chunkMinLength: z.number().int().nonnegative().default(0),
    /** seconds an idle upload session lives */
    uploadExpiry: duration.default(24 * 3600),
    /** seconds an idle upload session lives once a write found the storage full (removed then, not by gc) */
    uploadExpiryWhenFull: duration.default(600),
    /** largest page for tags/list, _catalog and referrers */
    maxPageSize: z.number().int().positive().default(10000),
  }).prefault({}),
  audit: z.strictObject({
    /** Ed25519 key that signs checkpoints of the audit chain (default <data>/secrets/audit-signing.key, created 0600) */
    signingKeyFile: z.string().optional(),
    /** more public keys (PEM files) whose checkpoints verify: earlier signing keys after a rotation */
    trustedKeys: z.array(z.string()).default([]),
    /** seconds between signed checkpoints of the chain head (only when it moved) */
    checkpointInterval: z.number().int().positive().default(300),
    /** days audit records are kept; older ones are archived (JSON Lines + a signed checkpoint) and purged. 0 = forever */
    retentionDays: z.number().nonnegative().default(0),
    /** where archives go (default <data>/audit-archive) */
    archiveDir: z.string().optional(),
    /**
     * true: a request whose audit record can be written neither to the spool nor to the database is
     * refused (503 AUDIT_UNAVAILABLE). false: it is served without its record, which is logged and counted
     */
    failClosed: z.boolean().default(true),
    /** records of reads, logins and denials wait here for the database, so a locked or read-only database stalls no pull */
    spool: z.strictObject({
      /** default <data>/audit-spool; on the machine's own disk */
      dir: z.string().optional(),
      /** records waiting beyond this many bytes are not taken (about 300 bytes each) */
      maxBytes: z.number().int().positive().default(256 * 1024 * 1024),
    }).prefault({}),
    /** forward every record to a SIEM as RFC 5424 syslog over TCP (RFC 6587 framing) or TLS (RFC 5425) */
    syslog: z.strictObject({
      enabled: z.boolean().default(false),
      host: z.string().optional(),
      port: z.number().int().min(1).max(65535).default(6514),
      tls: z.strictObject({
        enabled: z.boolean().default(true),
        /** PEM CA bundle for the collector's certificate */
        ca: z.string().optional(),
        /** PEM client certificate and key, when the collector wants one */
        cert: z.string().optional(),
        key: z.string().optional(),
        servername: z.string().optional(),
      }).prefault({}),
      appName: z.string().default('berth'),
    }).prefault({}).refine((s) => !s.enabled || Boolean(s.host), 'audit.syslog.enabled needs audit.syslog.host'),
  }).prefault({}),
  webhooks: z.strictObject({
    /** run the delivery worker in this process (one process of a deployment is enough) */
    enabled: z.boolean().default(true),
    /** deliver to loopback addresses (tests, local receivers); refused by default */
    allowLoopback: z.boolean().default(false),
    /** deliver to private networks (10/8, 172.16/12, 192.168/16, fc00::/7): on by default for on-premises receivers */
    allowPrivate: z.boolean().default(true),
    /** seconds one delivery attempt may take */
    timeout: z.number().positive().default(10),
    /** attempts before a delivery is dead-lettered */
    maxAttempts: z.number().int().min(1).max(100).default(10),
    /** seconds of the first retry delay; it doubles each time (with jitter) up to backoffMax */
    backoffBase: z.number().positive().default(2),
    backoffMax: z.number().positive().default(3600),
    /** endpoints delivered to at the same time */
    concurrency: z.number().int().min(1).max(256).default(16),
  }).prefault({}),
  gc: z.strictObject({
    /** seconds between collections inside `serve` (0 = only `berth gc`) */
    interval: duration.default(0),
    /** blobs touched more recently than this are never collected (protects pushes in flight) */
    grace: duration.default(3600),
    /**
     * seconds between walks of every stored file for files no row accounts for (left by crashes) in the
     * collections of `serve`: a walk costs as much as the store is large, the rest of a run only its garbage
     */
    sweepInterval: duration.default(86_400),
    /**
     * Online collection: changes queue what they may have made garbage, and every `serve` process reviews
     * what is due (a locked re-check, then removal) every `interval` seconds (0 = off). The delays are
     * seconds from the change to its review.
     */
    review: z.strictObject({
      interval: duration.default(10),
      /** a published blob's link, reviewed once a manifest had the time to reference it */
      afterUpload: duration.default(86_400),
      /** the links of a deleted manifest's blobs */
      afterManifestDelete: duration.default(86_400),
      /** a blob whose link went (blob DELETE, repository deleted) */
      afterUnlink: duration.default(3600),
      /** items per transaction */
      batch: z.number().int().min(1).max(5000).default(200),
    }).prefault({}),
  }).prefault({}),
  /** What is inside every image: catalogues (packages with the layer that brought them) read from the layers. */
  scan: z.strictObject({
    /** catalogue every pushed manifest (queued by an outbox consumer, never on the request path) */
    onPush: z.boolean().default(true),
    /** seconds between looks at the queue by each `serve` process (0 = no scanning in serve) */
    interval: duration.default(2),
    /** seconds a claim on a queued manifest lasts; renewed while its layers are read */
    lease: duration.default(60),
    /** attempts before a scan's failure is recorded */
    maxAttempts: z.number().int().min(1).max(100).default(5),
    /** attach Berth's CycloneDX and SPDX SBOMs to each catalogued image as OCI referrers */
    attachSboms: z.boolean().default(true),
  }).prefault({}),
  /** The offline vulnerability database (berth vulndb import). */
  vulndb: z.strictObject({
    /** PEM public keys (or certificates) whose detached signatures (FILE.sig) an imported bundle may carry */
    trustedKeys: z.array(z.string()).default([]),
    /** refuse bundles without a good signature by one of trustedKeys (a checksum alone does not do) */
    requireSignature: z.boolean().default(false),
    /** days after which the database counts as out of date (status, the UI and the scan policy's gate warn) */
    maxAge: z.number().int().min(1).max(3650).default(7),
  }).prefault({}),
  metrics: z.strictObject({
    /** serve GET /metrics at all (false: 404 everywhere) */
    enabled: z.boolean().default(true),
    /** HOST:PORT of a separate listener for /metrics, /healthz and /readyz only; /metrics then leaves the main port */
    listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT')
      .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535').optional(),
    /** bearer token a scraper must present (then also from loopback); without one the main port serves loopback clients only */
    token: z.string().min(16, 'must have at least 16 characters').optional(),
    /** file holding the token (instead of token) */
    tokenFile: z.string().optional(),
  }).prefault({}).refine((m) => !m.token || !m.tokenFile, 'metrics.token and metrics.tokenFile exclude each other'),
});

export type Config = z.infer<typeof configSchema>;
