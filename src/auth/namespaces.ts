// Namespace ownership: the first path component of a repository name belongs to exactly one user or
// organization. Pushing into a namespace nobody owns is refused (or, with auth.pushCreatesOrganization,
// creates the organization owned by the pusher); deleting an owner refuses, transfers or removes its
// repositories; namespaces found without an owner at start are given to the system administrators.
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/database.js';
import { SYSTEM_CONTEXT, type Journal } from '../audit/journal.js';
import { underPathRange } from '../lib/glob.js';

/** Repository names in a namespace (`ns/...`), at most `limit`. */
export async function namespaceRepositories(db: Db | Tx, ns: string, limit: number): Promise<string[]> {
  const { from, to } = underPathRange(ns);
  return (await db.selectFrom('repositories').select('name').where('name', '>=', from).where('name', '<', to).orderBy('name').limit(limit).execute()).map((r) => r.name);
}

/** Settings and roles given on repository names of a namespace (also for repositories never pushed). */
export async function forgetNamespaceSettings(tx: Tx, ns: string): Promise<void> {
  const { from, to } = underPathRange(ns);
  await tx.deleteFrom('repository_settings').where('name', '>=', from).where('name', '<', to).execute();
  await tx.deleteFrom('repository_members').where('repository_name', '>=', from).where('repository_name', '<', to).execute();
}

/** Who owns a namespace: a user, an organization, or nobody. */
export async function namespaceOwner(db: Db | Tx, ns: string): Promise<'user' | 'org' | null> {
  if (await db.selectFrom('organizations').select('id').where('name', '=', ns).executeTakeFirst()) return 'org';
  if (await db.selectFrom('users').select('id').where('name', '=', ns).executeTakeFirst()) return 'user';
  return null;
}

/**
 * Gives every namespace that holds repositories but has no owner to the system administrators: an
 * organization of that name with each active administrator as its admin. Returns the namespaces adopted.
 */
export async function adoptOrphanedNamespaces(db: Db, transact: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>, journal: Journal, log?: Logger): Promise<string[]> {
  const adopted: string[] = [];
  let cursor = '';
  for (;;) {
    // One query per namespace: jump past every name under the one just seen.
    const row = await db.selectFrom('repositories').select('name').where('name', '>=', cursor).orderBy('name').limit(1).executeTakeFirst();
    if (!row) break;
    const slash = row.name.indexOf('/');
    const ns = slash < 0 ? row.name : row.name.slice(0, slash);
    cursor = underPathRange(ns).to;
    if (slash < 0 || (await namespaceOwner(db, ns))) continue;
    const admins = await transact(async (tx) => {
      if (await namespaceOwner(tx, ns)) return null;
      const { id } = await tx.insertInto('organizations').values({ name: ns, public: 0, created_at: Date.now() }).returning('id').executeTakeFirstOrThrow();
      const users = await tx.selectFrom('users').select(['id', 'name']).where('is_admin', '=', 1).where('disabled', '=', 0).where('source', '!=', 'robot').execute();
      for (const u of users) await tx.insertInto('org_members').values({ org_id: Number(id), subject_kind: 'user', subject_id: Number(u.id), role: 'admin' }).execute();
      await journal.write(tx, SYSTEM_CONTEXT, [{ action: 'org.create', resource: `organization:${ns}`, detail: { reason: 'namespace held repositories without an owner', admins: users.map((u) => u.name) } }]);
      return users.map((u) => u.name);
    });
    if (admins === null) continue;
    adopted.push(ns);
    log?.warn({ namespace: ns, admins }, 'namespace held repositories without an owner: it is now an organization owned by the system administrators');
  }
  return adopted;
}
