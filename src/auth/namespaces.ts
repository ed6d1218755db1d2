// Namespace ownership: the first path component of a repository name belongs to exactly one user or
// organization. Pushing into a namespace nobody owns is refused (or, with auth.pushCreatesOrganization,
// creates the organization owned by the pusher); deleting an owner refuses, transfers or removes its
// repositories; namespaces found without an owner at start are given to the system administrators.
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/database.js';
import { SYSTEM_CONTEXT, type Journal } from '../audit/journal.js';
import { underPathRange } from '../lib/glob.js';
import { firstRepositoryFrom, namespaceOwner } from '../db/namespaces.js';
import { addOrgMember, insertOrganization } from '../db/organizations.js';
import { activeAdmins } from '../db/users.js';

/**
 * Gives every namespace that holds repositories but has no owner to the system administrators: an
 * organization of that name with each active administrator as its admin. Returns the namespaces adopted.
 */
export async function adoptOrphanedNamespaces(db: Db, transact: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>, journal: Journal, log?: Logger): Promise<string[]> {
  const adopted: string[] = [];
  let cursor = '';
  for (;;) {
    // One query per namespace: jump past every name under the one just seen.
    const name = await firstRepositoryFrom(db, cursor);
    if (name === undefined) break;
    const slash = name.indexOf('/');
    const ns = slash < 0 ? name : name.slice(0, slash);
    cursor = underPathRange(ns).to;
    if (slash < 0 || (await namespaceOwner(db, ns))) continue;
    const admins = await transact(async (tx) => {
      if (await namespaceOwner(tx, ns)) return null;
      const id = await insertOrganization(tx, ns, false, Date.now());
      const users = await activeAdmins(tx);
      for (const u of users) await addOrgMember(tx, id, { kind: 'user', id: u.id }, 'admin');
      await journal.write(tx, SYSTEM_CONTEXT, [{ action: 'org.create', resource: `organization:${ns}`, detail: { reason: 'namespace held repositories without an owner', admins: users.map((u) => u.name) } }]);
      return users.map((u) => u.name);
    });
    if (admins === null) continue;
    adopted.push(ns);
    log?.warn({ namespace: ns, admins }, 'namespace held repositories without an owner: it is now an organization owned by the system administrators');
  }
  return adopted;
}
