// Append-only migrations. Never edit a released one: add the next.
import { sql, type CreateTableBuilder, type Kysely, type Migration } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

export function migrations(dialect: Dialect): Record<string, Migration> {
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  const id = (t: CreateTableBuilder<string, never>): CreateTableBuilder<string, string> =>
    dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c) => c.primaryKey()) : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  // Lexical (byte-wise) ordering for names, as tags/list and _catalog require.
  const text = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    '0001_registry_core': {
      async up(db: Kysely<any>) {
        await id(db.schema.createTable('repositories'))
          .addColumn('name', text, (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('blobs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('touched_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('repository_blobs')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('touched_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();
        await id(db.schema.createTable('manifests'))
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject_digest', 'text')
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('content', bytes, (c) => c.notNull())
          .addColumn('annotations', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('manifests_repository_digest', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
        await db.schema.createTable('manifest_blobs')
          .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
          .addColumn('repository_id', 'bigint', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_blobs_pk', ['manifest_id', 'digest'])
          .execute();
        await db.schema.createIndex('manifest_blobs_repo_digest').on('manifest_blobs').columns(['repository_id', 'digest']).execute();
        await db.schema.createTable('manifest_children')
          .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
          .addColumn('repository_id', 'bigint', (c) => c.notNull())
          .addColumn('child_digest', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_children_pk', ['manifest_id', 'child_digest'])
          .execute();
        await db.schema.createIndex('manifest_children_repo_child').on('manifest_children').columns(['repository_id', 'child_digest']).execute();
        await db.schema.createTable('tags')
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('manifest_id', 'bigint', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
          .execute();
        await db.schema.createIndex('tags_manifest').on('tags').column('manifest_id').execute();
        await db.schema.createTable('uploads')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('repository_id', 'bigint', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_upload_states': {
      async up(db: Kysely<any>) {
        // Offset after a chunk shorter than OCI-Chunk-Min-Length: only the closing PUT may follow it.
        await db.schema.alterTable('uploads').addColumn('short_chunk_end', 'bigint').execute();
        // Digest verified and being published: lets a publication cut off by a crash be completed.
        await db.schema.alterTable('uploads').addColumn('publishing_digest', 'text').execute();
      },
    },
    '0003_identity': {
      async up(db: Kysely<any>) {
        await id(db.schema.createTable('users'))
          .addColumn('name', text, (c) => c.notNull().unique())
          .addColumn('password_hash', 'text')
          .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('source', 'text', (c) => c.notNull().defaultTo('local'))
          // Tokens issued before this instant are refused (disabling a user, changing a password).
          .addColumn('tokens_valid_after', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createTable('signing_keys')
          .addColumn('kid', 'text', (c) => c.primaryKey())
          .addColumn('public_jwk', 'text', (c) => c.notNull())
          // Sealed with the master key, which lives outside the database; null once retired.
          .addColumn('private_key_sealed', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('sign_until', 'bigint')
          .addColumn('verify_until', 'bigint')
          .execute();
      },
    },
    '0004_login_throttle': {
      async up(db: Kysely<any>) {
        // Failed logins per account ('user:NAME') and per client address ('addr:IP'), shared by all processes.
        await db.schema.createTable('login_throttle')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('failures', 'integer', (c) => c.notNull())
          .addColumn('window_start', 'bigint', (c) => c.notNull())
          .addColumn('locked_until', 'bigint', (c) => c.notNull().defaultTo(0))
          .execute();
        // Every authentication attempt that failed; the audit log reads these.
        await id(db.schema.createTable('auth_failures'))
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('user_name', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('auth_failures_at').on('auth_failures').column('at').execute();
      },
    },
    '0005_access_tokens': {
      async up(db: Kysely<any>) {
        // Personal access tokens: the secret is high-entropy, so a SHA-256 of it is stored (looked up by
        // its id prefix, compared in constant time), never the secret.
        await db.schema.createTable('access_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('secret_hash', 'text', (c) => c.notNull())
          // JSON [{ "pattern": "team/*", "actions": ["pull"] }]; null: everything the user may do
          .addColumn('scopes', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint')
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema.createIndex('access_tokens_user').on('access_tokens').column('user_id').execute();
      },
    },
    '0006_organizations': {
      async up(db: Kysely<any>) {
        await id(db.schema.createTable('organizations'))
          .addColumn('name', text, (c) => c.notNull().unique())
          .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await id(db.schema.createTable('teams'))
          .addColumn('org_id', 'bigint', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addUniqueConstraint('teams_org_name', ['org_id', 'name'])
          .execute();
        await db.schema.createTable('team_members')
          .addColumn('team_id', 'bigint', (c) => c.notNull().references('teams.id').onDelete('cascade'))
          .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addPrimaryKeyConstraint('team_members_pk', ['team_id', 'user_id'])
          .execute();
        // Roles on an organization, or on one repository, for a user or a team: reader, developer, maintainer, admin.
        await db.schema.createTable('org_members')
          .addColumn('org_id', 'bigint', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
          .addColumn('subject_kind', 'text', (c) => c.notNull())
          .addColumn('subject_id', 'bigint', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('org_members_pk', ['org_id', 'subject_kind', 'subject_id'])
          .execute();
        await db.schema.createTable('repository_members')
          .addColumn('repository_name', text, (c) => c.notNull())
          .addColumn('subject_kind', 'text', (c) => c.notNull())
          .addColumn('subject_id', 'bigint', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_members_pk', ['repository_name', 'subject_kind', 'subject_id'])
          .execute();
        // Settings by name, so they can be made before the first push; public null: as the namespace.
        await db.schema.createTable('repository_settings')
          .addColumn('name', text, (c) => c.primaryKey())
          .addColumn('public', 'integer')
          .execute();
      },
    },
    '0007_sessions_totp_directory': {
      async up(db: Kysely<any>) {
        // Browser and API sessions: the cookie holds a random secret; only its SHA-256 is stored.
        await db.schema.createTable('sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('user_agent', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
        // TOTP: secrets sealed with the master key; the last accepted time step refuses a replayed code.
        await db.schema.alterTable('users').addColumn('totp_secret_sealed', 'text').execute();
        await db.schema.alterTable('users').addColumn('totp_pending_sealed', 'text').execute();
        await db.schema.alterTable('users').addColumn('totp_last_step', 'bigint').execute();
        // Directory (LDAP/AD) accounts: where they live and what the directory last said.
        await db.schema.alterTable('users').addColumn('external_dn', 'text').execute();
        await db.schema.alterTable('users').addColumn('email', 'text').execute();
        await db.schema.alterTable('users').addColumn('display_name', 'text').execute();
        await db.schema.alterTable('users').addColumn('synced_at', 'bigint').execute();
        // A team may follow a directory group; memberships the sync made are its own to remove.
        await db.schema.alterTable('teams').addColumn('directory_group', 'text').execute();
        await db.schema.alterTable('team_members').addColumn('source', 'text', (c) => c.notNull().defaultTo('manual')).execute();
      },
    },
    '0008_audit_events_webhooks': {
      async up(db: Kysely<any>) {
        // The audit log: a hash chain in sequence order (seq is assigned by Berth, not the database, so that
        // it is part of what the hash covers; gaps are tampering).
        await db.schema.createTable('audit_log')
          .addColumn('seq', 'bigint', (c) => c.primaryKey())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('actor_source', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('user_agent', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('resource', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('request_id', 'text', (c) => c.notNull())
          .addColumn('detail', 'text')
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
        await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'seq']).execute();
        await db.schema.createIndex('audit_log_action').on('audit_log').columns(['action', 'seq']).execute();
        // Signed statements "the chain up to seq ends in hash" (Ed25519; the key lives outside the database).
        await db.schema.createTable('audit_checkpoints')
          .addColumn('seq', 'bigint', (c) => c.primaryKey())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          // set when the records up to seq were archived and purged: verification starts from here
          .addColumn('archived', 'text')
          .execute();
        // The outbox: events written in the same transaction as the change they describe.
        await id(db.schema.createTable('events'))
          .addColumn('event_id', 'text', (c) => c.notNull().unique())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('repository', 'text')
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await id(db.schema.createTable('webhook_endpoints'))
          // null: a global endpoint (system administrators); otherwise an organization's
          .addColumn('org_id', 'bigint', (c) => c.references('organizations.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('secret_sealed', 'text', (c) => c.notNull())
          .addColumn('format', 'text', (c) => c.notNull())
          .addColumn('events', 'text', (c) => c.notNull())
          .addColumn('repository_pattern', 'text')
          .addColumn('headers_sealed', 'text')
          .addColumn('tls_verify', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
          // the first event this endpoint receives: it never gets events from before it existed
          .addColumn('from_event', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        await id(db.schema.createTable('webhook_deliveries'))
          .addColumn('endpoint_id', 'bigint', (c) => c.notNull().references('webhook_endpoints.id').onDelete('cascade'))
          .addColumn('event_seq', 'bigint', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          // pending, delivered, dead
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('lease_until', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('last_status', 'integer')
          .addColumn('last_error', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .addUniqueConstraint('webhook_deliveries_once', ['endpoint_id', 'event_seq'])
          .execute();
        await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['state', 'endpoint_id', 'event_seq']).execute();
        await id(db.schema.createTable('webhook_attempts'))
          .addColumn('delivery_id', 'bigint', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
          .addColumn('attempt', 'integer', (c) => c.notNull())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('status', 'integer')
          .addColumn('latency_ms', 'integer', (c) => c.notNull())
          .addColumn('error', 'text')
          .addColumn('response', 'text')
          .execute();
        await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').column('delivery_id').execute();
        // Positions of background readers (webhook fan-out, syslog forwarding).
        await db.schema.createTable('cursors')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0009_leases': {
      async up(db: Kysely<any>) {
        // Who runs a background job or consumes events right now: one holder per name, until its lease
        // expires (a dead holder stops renewing, and another process takes over).
        await db.schema.createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('until', 'bigint', (c) => c.notNull())
          .addColumn('acquired_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0011_event_consumer_cursors': {
      async up(db: Kysely<any>) {
        // Event consumers' cursors are named consumer:NAME (pruning the outbox waits for all of them); the
        // webhook fan-out's keeps its position.
        await db.updateTable('cursors').set({ name: 'consumer:webhook-fanout' }).where('name', '=', 'webhook-fanout').execute();
      },
    },
    '0012_manifest_total_size': {
      async up(db: Kysely<any>) {
        // What a tag costs in storage, kept with the manifest so that tag pages sort by size in the
        // database: its own bytes, its blobs', and (an index) its children's totals.
        await db.schema.alterTable('manifests').addColumn('total_size', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
        await sql`update manifests set total_size = size + coalesce((select sum(b.size) from manifest_blobs mb join blobs b on b.digest = mb.digest where mb.manifest_id = manifests.id), 0)`.execute(db);
        await sql`update manifests set total_size = total_size + coalesce((select sum(c.total_size) from manifest_children mc join manifests c on c.repository_id = mc.repository_id and c.digest = mc.child_digest where mc.manifest_id = manifests.id), 0) where exists (select 1 from manifest_children mc where mc.manifest_id = manifests.id)`.execute(db);
        // Tag pages walk an index in every order instead of sorting every tag: by push time, and by size
        // (the manifest's total, copied onto the tag). A repository counts its tags, so that a page's
        // total costs nothing at any size. Triggers keep both true whatever statement changes tags.
        await db.schema.alterTable('tags').addColumn('size', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
        await db.schema.alterTable('repositories').addColumn('tag_count', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
        await sql`update tags set size = (select m.total_size from manifests m where m.id = tags.manifest_id)`.execute(db);
        await sql`update repositories set tag_count = (select count(*) from tags t where t.repository_id = repositories.id)`.execute(db);
        await db.schema.createIndex('tags_pushed').on('tags').columns(['repository_id', 'updated_at', 'name']).execute();
        await db.schema.createIndex('tags_size').on('tags').columns(['repository_id', 'size', 'name']).execute();
        if (dialect === 'sqlite') {
          await sql`create trigger tags_counted_insert after insert on tags begin
            update repositories set tag_count = tag_count + 1 where id = new.repository_id;
            update tags set size = (select m.total_size from manifests m where m.id = new.manifest_id) where repository_id = new.repository_id and name = new.name;
          end`.execute(db);
          await sql`create trigger tags_counted_delete after delete on tags begin
            update repositories set tag_count = tag_count - 1 where id = old.repository_id;
          end`.execute(db);
          await sql`create trigger tags_sized_move after update of manifest_id on tags begin
            update tags set size = (select m.total_size from manifests m where m.id = new.manifest_id) where repository_id = new.repository_id and name = new.name;
          end`.execute(db);
        } else {
          await sql`create function berth_tags_size() returns trigger language plpgsql as $$ begin
            new.size := (select m.total_size from manifests m where m.id = new.manifest_id); return new; end $$`.execute(db);
          await sql`create trigger tags_sized before insert or update of manifest_id on tags for each row execute function berth_tags_size()`.execute(db);
          await sql`create function berth_tags_count() returns trigger language plpgsql as $$ begin
            if tg_op = 'INSERT' then update repositories set tag_count = tag_count + 1 where id = new.repository_id;
            else update repositories set tag_count = tag_count - 1 where id = old.repository_id; end if; return null; end $$`.execute(db);
          await sql`create trigger tags_counted after insert or delete on tags for each row execute function berth_tags_count()`.execute(db);
        }
      },
    },
    '0010_job_runs': {
      async up(db: Kysely<any>) {
        // Runs of background jobs, visible from every process: queued ones wait here for the process that
        // holds the job's lease; running ones carry their holder and progress; finished ones are history.
        await db.schema.createTable('job_runs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('job', 'text', (c) => c.notNull())
          // schedule (periodic), queue (enqueued with parameters), service (a lease held while it runs)
          .addColumn('trigger', 'text', (c) => c.notNull())
          // queued, running, done, failed, cancelled
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('params', 'text')
          .addColumn('attempt', 'integer', (c) => c.notNull())
          .addColumn('max_attempts', 'integer', (c) => c.notNull())
          // a queued run (or a retry) starts no earlier than this
          .addColumn('not_before', 'bigint', (c) => c.notNull())
          .addColumn('holder', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('started_at', 'bigint')
          .addColumn('finished_at', 'bigint')
          .addColumn('progress', 'text')
          .addColumn('progress_at', 'bigint')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createIndex('job_runs_job_state').on('job_runs').columns(['job', 'state', 'not_before']).execute();
        await db.schema.createIndex('job_runs_job_created').on('job_runs').columns(['job', 'created_at']).execute();
      },
    },
    '0013_audit_chain_head': {
      async up(db: Kysely<any>) {
        // The chain's head in one row that every writer of the chain locks first (PostgreSQL: SELECT ... FOR
        // UPDATE; SQLite: its write lock), so that concurrent writers never build on the same head. It also
        // outlives a purge: records after an archive that took every record continue from the archive's end.
        await db.schema.createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        // Backfilled with the newer of the last record and the last archived checkpoint (0 and the genesis
        // hash for an empty chain).
        await sql`insert into audit_head (id, seq, hash) select 1, h.seq, h.hash from (
            select * from (select seq, hash from audit_log order by seq desc limit 1) r
            union all select * from (select seq, hash from audit_checkpoints where archived is not null order by seq desc limit 1) c
            union all select 0, ${sql.lit('0'.repeat(64))}
          ) h order by h.seq desc limit 1`.execute(db);
      },
    },
    '0014_encryption_keys': {
      async up(db: Kysely<any>) {
        // Key-encryption keys of encryption at rest: the material stays in its provider (a key file, an
        // HSM); here is which keys exist, which one new files use (the newest active), and a check value
        // (a random value wrapped by the key, and its SHA-256) that tells a wrong key at start.
        await db.schema.createTable('encryption_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('provider', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('retired_at', 'bigint')
          .addColumn('check_wrapped', bytes, (c) => c.notNull())
          .addColumn('check_digest', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0015_audit_spool': {
      async up(db: Kysely<any>) {
        // How far each audit spool file (audit/spool.ts) has gone into the chain, moved in the transaction
        // that appends its records: a file is taken over after a crash exactly where it stopped.
        await db.schema.createTable('audit_spool')
          .addColumn('segment', 'text', (c) => c.primaryKey())
          .addColumn('consumed', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0016_repository_search': {
      async up(db: Kysely<any>) {
        // Substring search of repository names (the management API's ?q=) through a trigram index, so it
        // reads the names that contain the query's trigrams instead of every name.
        if (dialect === 'sqlite') {
          await sql`create virtual table repository_search using fts5(name, tokenize = 'trigram', content = 'repositories', content_rowid = 'id')`.execute(db);
          await sql`insert into repository_search (rowid, name) select id, name from repositories`.execute(db);
          await sql`create trigger repository_search_insert after insert on repositories begin
            insert into repository_search (rowid, name) values (new.id, new.name); end`.execute(db);
          await sql`create trigger repository_search_delete after delete on repositories begin
            insert into repository_search (repository_search, rowid, name) values ('delete', old.id, old.name); end`.execute(db);
          await sql`create trigger repository_search_rename after update of name on repositories begin
            insert into repository_search (repository_search, rowid, name) values ('delete', old.id, old.name);
            insert into repository_search (rowid, name) values (new.id, new.name); end`.execute(db);
        } else {
          // pg_trgm ships with PostgreSQL but creating it may need rights the registry's role lacks:
          // without it the search still works, reading every name.
          const available = await sql<{ n: number }>`select count(*)::int as n from pg_available_extensions where name = 'pg_trgm'`.execute(db);
          const installed = await sql<{ n: number }>`select count(*)::int as n from pg_extension where extname = 'pg_trgm'`.execute(db);
          if (installed.rows[0]!.n === 0 && available.rows[0]!.n > 0) {
            await sql`savepoint trgm`.execute(db);
            try {
              await sql`create extension pg_trgm`.execute(db);
              await sql`release savepoint trgm`.execute(db);
            } catch {
              await sql`rollback to savepoint trgm`.execute(db);
            }
          }
          const ready = await sql<{ n: number }>`select count(*)::int as n from pg_extension where extname = 'pg_trgm'`.execute(db);
          if (ready.rows[0]!.n > 0) await sql`create index repositories_name_trgm on repositories using gin (name gin_trgm_ops)`.execute(db);
        }
      },
    },
    '0017_access_generation': {
      async up(db: Kysely<any>) {
        // Moved by every change to who may do what (db/cursors.ts bumpAccessGeneration): a bearer token
        // minted at an older generation is decided afresh against the roles of now.
        await db.insertInto('cursors').values({ name: 'access', value: 0 }).execute();
      },
    },
    '0018_gc_review': {
      async up(db: Kysely<any>) {
        // Online garbage collection (db/gc-review.ts): what may have become garbage, queued in the
        // transaction of the change that made it so, reviewed once its delay is over.
        await db.schema.createTable('gc_review')
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('repository_id', 'bigint', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('review_after', 'bigint', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('gc_review_pk', ['kind', 'repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('gc_review_due').on('gc_review').column('review_after').execute();
      },
    },
    '0019_invalidation_triggers': {
      async up(db: Kysely<any>) {
        // PostgreSQL: every change to the rows processes cache is announced (db/invalidation.ts), by the
        // database itself, so that no code path can forget to. Delivered when the change commits.
        if (dialect !== 'postgres') return;
        await sql`create function berth_invalidate_user() returns trigger language plpgsql as $$
          begin
            if tg_op <> 'INSERT' then perform pg_notify('berth_invalidate', 'u:' || old.name); end if;
            if tg_op <> 'DELETE' then perform pg_notify('berth_invalidate', 'u:' || new.name); end if;
            return null;
          end $$`.execute(db);
        await sql`create trigger users_invalidate after insert or update or delete on users for each row execute function berth_invalidate_user()`.execute(db);
        await sql`create function berth_invalidate_access() returns trigger language plpgsql as $$
          begin perform pg_notify('berth_invalidate', 'a'); return null; end $$`.execute(db);
        await sql`create trigger access_invalidate after update on cursors for each row when (new.name = 'access') execute function berth_invalidate_access()`.execute(db);
        await sql`create function berth_invalidate_repository() returns trigger language plpgsql as $$
          begin
            if tg_op <> 'INSERT' then perform pg_notify('berth_invalidate', 'r:' || old.repository_id); end if;
            if tg_op <> 'DELETE' then perform pg_notify('berth_invalidate', 'r:' || new.repository_id); end if;
            return null;
          end $$`.execute(db);
        await sql`create trigger tags_invalidate after insert or update or delete on tags for each row execute function berth_invalidate_repository()`.execute(db);
        await sql`create trigger manifests_invalidate after update or delete on manifests for each row execute function berth_invalidate_repository()`.execute(db);
      },
    },
    '0020_blob_invalidation_triggers': {
      async up(db: Kysely<any>) {
        // A blob link or a blob removed (or a blob's size corrected) is announced; touches are not.
        if (dialect !== 'postgres') return;
        await sql`create function berth_invalidate_blob() returns trigger language plpgsql as $$
          begin perform pg_notify('berth_invalidate', 'b:' || old.digest); return null; end $$`.execute(db);
        await sql`create trigger repository_blobs_invalidate after delete on repository_blobs for each row execute function berth_invalidate_blob()`.execute(db);
        await sql`create trigger blobs_invalidate after delete or update of size on blobs for each row execute function berth_invalidate_blob()`.execute(db);
      },
    },
    '0021_scans': {
      async up(db: Kysely<any>) {
        // Image scans (db/scans.ts): manifests waiting to be catalogued, claimed for a while by one
        // process at a time (a scan outlives any transaction), and what each catalogue found. Content is
        // addressed by digest: the same manifest in two repositories is read once.
        await db.schema.createTable('scan_queue')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('repository', 'text', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('queued_at', 'bigint', (c) => c.notNull())
          .addColumn('not_before', 'bigint', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('claimed_by', 'text')
          .addColumn('claimed_until', 'bigint', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema.createIndex('scan_queue_due').on('scan_queue').columns(['not_before', 'queued_at']).execute();
        await db.schema.createTable('image_catalogs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('catalog', 'text')
          .addColumn('packages', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('error', 'text')
          .addColumn('scanner', 'text', (c) => c.notNull())
          .addColumn('scanned_at', 'bigint', (c) => c.notNull())
          .addColumn('duration_ms', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('bytes_read', 'bigint', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0022_vulnerability_db': {
      async up(db: Kysely<any>) {
        // The offline vulnerability database (db/vulns.ts): records in OSV's shape whatever their source,
        // the packages each affects (the matcher's index), the sources as last imported, and per image
        // manifest what the last matching found. cursor 'vulndb' counts imports: findings made at an older
        // count are matched again.
        await db.schema.createTable('vuln_sources')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('records', 'integer', (c) => c.notNull())
          .addColumn('newest_modified', 'text')
          .addColumn('imported_at', 'bigint', (c) => c.notNull())
          .addColumn('file', 'text', (c) => c.notNull())
          .addColumn('verified', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('vulns')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('modified', 'text', (c) => c.notNull())
          .addColumn('withdrawn', 'text')
          .addColumn('aliases', 'text', (c) => c.notNull())
          .addColumn('summary', 'text')
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('score', 'real')
          .addColumn('record', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('vuln_packages')
          .addColumn('vuln_id', 'text', (c) => c.notNull())
          .addColumn('ecosystem', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('affected', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('vuln_packages_by_package').on('vuln_packages').columns(['ecosystem', 'name']).execute();
        await db.schema.createIndex('vuln_packages_by_vuln').on('vuln_packages').column('vuln_id').execute();
        await db.schema.createTable('image_findings')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('db_version', 'bigint', (c) => c.notNull())
          .addColumn('matched_at', 'bigint', (c) => c.notNull())
          .addColumn('critical', 'integer', (c) => c.notNull())
          .addColumn('high', 'integer', (c) => c.notNull())
          .addColumn('medium', 'integer', (c) => c.notNull())
          .addColumn('low', 'integer', (c) => c.notNull())
          .addColumn('unknown', 'integer', (c) => c.notNull())
          .addColumn('findings', 'text', (c) => c.notNull())
          .execute();
        await db.insertInto('cursors').values({ name: 'vulndb', value: 0 }).execute();
      },
    },
    '0023_scan_policies': {
      async up(db: Kysely<any>) {
        // Pull policies on findings (db/scan-policies.ts), per organization ('org:NAME') or repository
        // ('repo:NAME'; the repository's own wins), and their allow-lists of vulnerability ids.
        await db.schema.createTable('scan_policies')
          .addColumn('target', 'text', (c) => c.primaryKey())
          .addColumn('severity', 'text', (c) => c.notNull())
          .addColumn('unscanned', 'text', (c) => c.notNull())
          .addColumn('exempt', 'text', (c) => c.notNull())
          .addColumn('exempt_pushers', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createTable('scan_allowlist')
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('vuln_id', 'text', (c) => c.notNull())
          .addColumn('until', 'bigint', (c) => c.notNull())
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('scan_allowlist_pk', ['target', 'vuln_id'])
          .execute();
      },
    },
  };
}
