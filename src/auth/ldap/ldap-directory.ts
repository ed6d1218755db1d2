// Directory access for LDAP / Active Directory logins and the background user sync: bind-and-search,
// group resolution (direct and nested) and a typed split between "wrong password" (null) and
// "directory down" (DirectoryUnavailableError). Connections are short-lived: one per operation.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, FilterParser, InvalidCredentialsError, ResultCodeError, type Entry, type SearchOptions } from 'ldapts';

export interface LdapGroupsConfig {
  /** `memberOf`: read the attribute on the user entry; `search`: search group entries holding the user's DN. */
  mode: 'memberOf' | 'search';
  /** Default "memberOf". */
  memberOfAttribute?: string;
  /** Required for `search` mode and for any nesting. */
  groupBaseDn?: string;
  /** Default {@link DEFAULT_GROUP_FILTER}. */
  groupFilter?: string;
  /** Attribute on a group holding member DNs. Default "member" ("uniqueMember" for groupOfUniqueNames). */
  memberAttribute?: string;
  /** `matchingRuleInChain` is Active Directory only (LDAP_MATCHING_RULE_IN_CHAIN); `recursive` works everywhere. */
  nested: 'none' | 'matchingRuleInChain' | 'recursive';
  /** Levels of parent groups followed above the direct groups in `recursive` mode. Default 10. */
  maxDepth?: number;
}

export interface LdapConfig {
  /** ldap://host:port or ldaps://host:port; several space-separated URLs are tried in order. */
  url: string;
  /** Service account used for searches; anonymous search when absent. */
  bindDn?: string;
  bindPassword?: string;
  /** Upgrade ldap:// connections with StartTLS (ignored for ldaps:// URLs). */
  startTls?: boolean;
  /** PEM CA bundle trusted for ldaps:// and StartTLS (replaces the system store). */
  caFile?: string;
  /** Default false. Only for evaluation: accepts any server certificate. */
  insecureSkipVerify?: boolean;
  /** Connect and per-operation timeout. Default 10000. */
  timeoutMs?: number;
  userBaseDn: string;
  /** e.g. "(&(objectClass=inetOrgPerson)(uid={username}))"; {username} is replaced with the RFC 4515-escaped name. */
  userFilter: string;
  /** e.g. "uid" (AD: "sAMAccountName"). */
  usernameAttribute: string;
  emailAttribute?: string;
  displayNameAttribute?: string;
  /** A user entry matching this filter is reported `disabled` (e.g. "(employeeType=disabled)" or
   *  "(pwdAccountLockedTime=*)"). AD's userAccountControl ACCOUNTDISABLE bit is always honoured. */
  disabledFilter?: string;
  groups: LdapGroupsConfig;
}

export interface DirectoryUser {
  dn: string;
  /** The directory's own spelling of the name (from usernameAttribute), not the one typed at login. */
  username: string;
  email?: string;
  displayName?: string;
  /** Normalized group DNs ({@link normalizeDn}): direct + nested when enabled, deduplicated case-insensitively, sorted. */
  groups: string[];
  /** AD userAccountControl ACCOUNTDISABLE (0x2) set, or the entry matched `disabledFilter`. Callers must refuse such users. */
  disabled: boolean;
}

export type DirectoryErrorCode =
  | 'invalid-config'      // the LdapConfig itself is wrong (raised by the constructor)
  | 'unreachable'         // connect refused / reset / DNS / socket closed (DirectoryUnavailableError)
  | 'tls'                 // handshake or certificate verification failed (DirectoryUnavailableError)
  | 'timeout'             // connect or operation exceeded timeoutMs (DirectoryUnavailableError)
  | 'service-bind-failed' // the service account was refused (DirectoryUnavailableError)
  | 'server-unavailable'  // busy / unavailable / unwilling result codes (DirectoryUnavailableError)
  | 'ambiguous-user'      // the user filter matched more than one entry
  | 'user-bind-failed'    // the user bind failed with something other than invalidCredentials
  | 'unsupported-server'  // e.g. matchingRuleInChain against a non-AD server
  | 'operation-failed'    // any other LDAP result (bad base DN, bad filter, insufficient access, ...)
  | 'closed';             // close() was called

/** A directory failure that is not "unknown user / wrong password". Messages never contain passwords. */
export class DirectoryError extends Error {
  readonly code: DirectoryErrorCode;
  /** LDAP result code when the server answered with one. */
  readonly resultCode?: number;
  constructor(code: DirectoryErrorCode, message: string, options: { cause?: unknown; resultCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DirectoryError';
    this.code = code;
    if (options.resultCode !== undefined) this.resultCode = options.resultCode;
  }
}

/** The directory could not be used at all (network, TLS, timeout, service account): not the user's fault. */
export class DirectoryUnavailableError extends DirectoryError {
  constructor(code: DirectoryErrorCode, message: string, options: { cause?: unknown; resultCode?: number } = {}) {
    super(code, message, options);
    this.name = 'DirectoryUnavailableError';
  }
}

export const DEFAULT_GROUP_FILTER = '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))';
/** LDAP_MATCHING_RULE_IN_CHAIN (Active Directory, Samba AD). */
export const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';
/** userAccountControl ACCOUNTDISABLE. */
export const UAC_ACCOUNTDISABLE = 0x2;
// rootDSE supportedCapabilities that mean "Active Directory" (DS) and "AD LDS".
const AD_CAPABILITIES = ['1.2.840.113556.1.4.800', '1.2.840.113556.1.4.1851'];
const MAX_USERNAME_LENGTH = 256;
// Filters with many OR-ed member DNs are split so a level with hundreds of groups stays within server limits.
const GROUP_BATCH = 50;

// ---------------------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests and for callers that compare DNs)

/** RFC 4515 assertion-value escaping: `\ * ( ) NUL` become `\5c \2a \28 \29 \00`. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A login name we are willing to put in a filter: non-empty, bounded, no control characters. */
export function isAcceptableUsername(username: unknown): username is string {
  return typeof username === 'string' && username.length > 0 && username.length <= MAX_USERNAME_LENGTH && !/[\u0000-\u001f\u007f-\u009f]/.test(username);
}

/** The user search filter with every `{username}` replaced by the escaped name. */
export function buildUserFilter(userFilter: string, username: string): string {
  return userFilter.split('{username}').join(escapeFilterValue(username));
}

/** `(&<groupFilter>(<memberAttribute>=<dn>))`, or an OR of several member DNs. */
export function memberGroupFilter(groupFilter: string, memberDns: string[], memberAttribute = 'member'): string {
  const terms = memberDns.map((dn) => `(${memberAttribute}=${escapeFilterValue(dn)})`);
  return `(&${groupFilter}${terms.length === 1 ? terms[0] : `(|${terms.join('')})`})`;
}

/** `(&<groupFilter>(member:1.2.840.113556.1.4.1941:=<userDN>))`: every group the user is in, transitively (AD only). */
export function inChainGroupFilter(groupFilter: string, userDn: string, memberAttribute = 'member'): string {
  return `(&${groupFilter}(${memberAttribute}:${IN_CHAIN_RULE}:=${escapeFilterValue(userDn)}))`;
}

/** True when an AD userAccountControl value has ACCOUNTDISABLE set. */
export function isUacDisabled(value: string | number | undefined): boolean {
  if (value === undefined || value === '') return false;
  const n = typeof value === 'number' ? value : Number.parseInt(value, 10);
  return Number.isFinite(n) && (n & UAC_ACCOUNTDISABLE) !== 0;
}

interface Ava { type: string; value: string; ber?: boolean }

// Splits an RFC 4514 DN into RDNs of attribute-value assertions, decoding escapes. Throws on malformed input.
function parseDn(dn: string): Ava[][] {
  const rdns: Ava[][] = [];
  let i = 0;
  const n = dn.length;
  const skipSpaces = () => { while (i < n && dn[i] === ' ') i++; };
  skipSpaces();
  if (i === n) return rdns;
  let rdn: Ava[] = [];
  for (;;) {
    skipSpaces();
    const typeStart = i;
    while (i < n && dn[i] !== '=') i++;
    if (i === n) throw new Error('missing "="');
    const type = dn.slice(typeStart, i).trim();
    if (!type) throw new Error('empty attribute type');
    i++; // '='
    skipSpaces();
    let value = '';
    let ber = false;
    if (dn[i] === '#') {
      // BER-encoded value: kept verbatim (hex is case-insensitive)
      const start = i;
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') i++;
      value = dn.slice(start, i).trim().toLowerCase();
      ber = true;
    } else if (dn[i] === '"') {
      i++;
      while (i < n && dn[i] !== '"') {
        if (dn[i] === '\\' && i + 1 < n) i++;
        value += dn[i++];
      }
      if (i === n) throw new Error('unterminated quote');
      i++;
      skipSpaces();
    } else {
      const bytes: number[] = [];
      let trailingUnescapedSpaces = 0;
      const pushText = (s: string) => { for (const b of Buffer.from(s, 'utf8')) bytes.push(b); };
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        const c = dn[i]!;
        if (c === '\\') {
          const hex = dn.slice(i + 1, i + 3);
          if (/^[0-9a-fA-F]{2}$/.test(hex)) { bytes.push(Number.parseInt(hex, 16)); i += 3; }
          else if (i + 1 < n) { pushText(dn[i + 1]!); i += 2; }
          else throw new Error('dangling escape');
          trailingUnescapedSpaces = 0;
        } else {
          pushText(c);
          trailingUnescapedSpaces = c === ' ' ? trailingUnescapedSpaces + 1 : 0;
          i++;
        }
      }
      value = Buffer.from(bytes.slice(0, bytes.length - trailingUnescapedSpaces)).toString('utf8');
    }
    rdn.push(ber ? { type, value, ber } : { type, value });
    if (i === n) { rdns.push(rdn); return rdns; }
    const sep = dn[i];
    i++;
    if (sep !== '+') { rdns.push(rdn); rdn = []; }
  }
}

function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\0') out += '\\00';
    else if ('\\,+"<>;'.includes(c) || ((c === ' ' || c === '#') && i === 0) || (c === ' ' && i === value.length - 1)) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/**
 * Canonical text of a DN: attribute types lower-cased, insignificant spaces removed, escapes rewritten one
 * way (`\2C` and `\,` become `\,`). Value case is kept for display; compare with {@link dnKey}.
 * A DN that does not parse is returned trimmed, with runs of spaces collapsed.
 */
export function normalizeDn(dn: string): string {
  try {
    return parseDn(dn).map((rdn) => rdn.map((a) => `${a.type.toLowerCase()}=${a.ber ? a.value : escapeDnValue(a.value)}`).join('+')).join(',');
  } catch {
    return dn.trim().replace(/\s+/g, ' ');
  }
}

/** Case-insensitive comparison key of a DN (group and user DNs in directories compare case-insensitively). */
export function dnKey(dn: string): string {
  return normalizeDn(dn).toLowerCase();
}

export function dnEquals(a: string, b: string): boolean {
  return dnKey(a) === dnKey(b);
}

// ---------------------------------------------------------------------------------------------------------

function values(entry: Entry, name: string): string[] {
  const lower = name.toLowerCase();
  for (const [key, v] of Object.entries(entry)) {
    if (key === 'dn' || key.toLowerCase() !== lower) continue;
    const list = Array.isArray(v) ? v : [v];
    return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x))).filter((x) => x !== '');
  }
  return [];
}

const TRANSPORT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);
// Result codes meaning "the server cannot serve now": busy, unavailable, unwillingToPerform, other, and
// the client-side serverDown/timeout codes some servers echo.
const UNAVAILABLE_RESULTS = new Set([51, 52, 53, 80, 81, 85]);

// Node's TLS errors carry codes (ERR_SSL_*, ERR_TLS_*, certificate verification codes); ldapts re-wraps some
// socket errors as text only, hence the message patterns.
function isTlsError(err: Error & { code?: string }): boolean {
  return /CERT|SSL|TLS|SIGNATURE|ISSUER|VERIFY|ALTNAME/.test(err.code ?? '') || /certificate|self[- ]signed|SSL routines|handshake|tls alert/i.test(err.message);
}

/** Maps anything thrown below us onto DirectoryError; `where` names the step for the message (never a secret). */
function classify(err: unknown, where: string): DirectoryError {
  if (err instanceof DirectoryError) return err;
  if (err instanceof ResultCodeError) {
    const msg = `${where}: LDAP result ${err.code} (${err.name})${err.message ? `: ${err.message}` : ''}`;
    if (UNAVAILABLE_RESULTS.has(err.code)) return new DirectoryUnavailableError('server-unavailable', msg, { cause: err, resultCode: err.code });
    return new DirectoryError('operation-failed', msg, { cause: err, resultCode: err.code });
  }
  const e: Error & { code?: string } = err instanceof Error ? err : new Error(String(err));
  const text = `${where}: ${e.code ? `${e.code}: ` : ''}${e.message}`;
  if (e.code === 'ETIMEDOUT' || (!e.code && /timed? ?out/i.test(e.message))) return new DirectoryUnavailableError('timeout', text, { cause: e });
  if (!TRANSPORT_CODES.has(e.code ?? '') && isTlsError(e)) return new DirectoryUnavailableError('tls', `${where}: TLS failure: ${e.code ? `${e.code}: ` : ''}${e.message}`, { cause: e });
  // Refused/reset connections, closed sockets, and anything else the client library throws (protocol
  // confusion, e.g. ldap:// against an ldaps port): we cannot talk to this server.
  return new DirectoryUnavailableError('unreachable', text, { cause: e });
}

/** client.search with the step and base DN named in any error (AD referrals in searchReferences are ignored). */
async function search(client: Client, what: string, base: string, options: SearchOptions): Promise<Entry[]> {
  try {
    return (await client.search(base, options)).searchEntries;
  } catch (err) {
    throw classify(err, `${what} under "${base}"`);
  }
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { onTimeout(); reject(new DirectoryUnavailableError('timeout', `${what}: timed out after ${ms} ms`)); }, ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function validateFilter(filter: string, field: string): void {
  try {
    FilterParser.parseString(filter);
  } catch (err) {
    throw new DirectoryError('invalid-config', `${field} is not a valid LDAP filter: ${(err as Error).message}`);
  }
  if (!filter.startsWith('(') || !filter.endsWith(')')) throw new DirectoryError('invalid-config', `${field} must be parenthesized: ${filter}`);
}

interface Resolved {
  urls: string[];
  timeoutMs: number;
  groupFilter: string;
  memberAttribute: string;
  memberOfAttribute: string;
  maxDepth: number;
}

export class LdapDirectory {
  private readonly config: LdapConfig;
  private readonly r: Resolved;
  private readonly open = new Set<Client>();
  private closed = false;
  private adChecked = false;

  constructor(config: LdapConfig) {
    const bad = (msg: string): never => { throw new DirectoryError('invalid-config', msg); };
    const urls = (config.url ?? '').trim().split(/\s+/).filter(Boolean);
    if (urls.length === 0) bad('url is required');
    for (const u of urls) {
      let parsed: URL | undefined;
      try { parsed = new URL(u); } catch { bad(`url is not a URL: ${u}`); }
      if (parsed!.protocol !== 'ldap:' && parsed!.protocol !== 'ldaps:') bad(`url must be ldap:// or ldaps://: ${u}`);
    }
    // A DN with an empty password is an "unauthenticated bind": servers accept it and grant anonymous access.
    if (config.bindDn && !config.bindPassword) bad('bindPassword is required when bindDn is set');
    if (!config.userBaseDn) bad('userBaseDn is required');
    if (!config.usernameAttribute) bad('usernameAttribute is required');
    if (!config.userFilter?.includes('{username}')) bad('userFilter must contain {username}');
    validateFilter(buildUserFilter(config.userFilter, 'x'), 'userFilter');
    if (config.disabledFilter) validateFilter(config.disabledFilter, 'disabledFilter');
    const g = config.groups;
    if (!g || !['memberOf', 'search'].includes(g.mode)) bad('groups.mode must be "memberOf" or "search"');
    if (!['none', 'matchingRuleInChain', 'recursive'].includes(g.nested)) bad('groups.nested must be "none", "matchingRuleInChain" or "recursive"');
    if ((g.mode === 'search' || g.nested !== 'none') && !g.groupBaseDn) bad('groups.groupBaseDn is required for search mode and for nested groups');
    const groupFilter = g.groupFilter ?? DEFAULT_GROUP_FILTER;
    validateFilter(groupFilter, 'groups.groupFilter');
    const maxDepth = g.maxDepth ?? 10;
    if (!Number.isInteger(maxDepth) || maxDepth < 0) bad('groups.maxDepth must be an integer >= 0');
    const timeoutMs = config.timeoutMs ?? 10_000;
    if (!(timeoutMs > 0)) bad('timeoutMs must be > 0');
    this.config = { ...config, groups: { ...g } };
    this.r = {
      urls, timeoutMs, groupFilter, maxDepth,
      memberAttribute: g.memberAttribute ?? 'member',
      memberOfAttribute: g.memberOfAttribute ?? 'memberOf',
    };
  }

  /**
   * Verifies `password` for `username`. Null for an unknown user, a wrong password, an empty password or a
   * name we refuse to search for. A returned user may be `disabled`: the caller must refuse it.
   * Throws DirectoryUnavailableError when the directory cannot be used, DirectoryError for other failures.
   */
  async authenticate(username: string, password: string): Promise<DirectoryUser | null> {
    this.assertOpen();
    if (!isAcceptableUsername(username)) return null;
    // An empty password turns a simple bind into an "unauthenticated bind" that many servers accept.
    if (typeof password !== 'string' || password.length === 0) return null;
    return this.withServiceConnection(async (client, url) => {
      const entry = await this.findUser(client, username);
      if (!entry) return null;
      if (!(await this.verifyPassword(url, entry.dn, password))) return null;
      return this.toUser(client, entry, username);
    });
  }

  /** The same user search as authenticate(), without the user bind. Null when the user no longer exists. */
  async lookup(username: string): Promise<DirectoryUser | null> {
    this.assertOpen();
    if (!isAcceptableUsername(username)) return null;
    return this.withServiceConnection(async (client) => {
      const entry = await this.findUser(client, username);
      return entry ? this.toUser(client, entry, username) : null;
    });
  }

  /** Connects and binds with the service account (and checks AD support for matchingRuleInChain): for a "test connection" button or a start-up probe. */
  async check(): Promise<void> {
    this.assertOpen();
    await this.withServiceConnection(async (client) => {
      if (this.config.groups.nested === 'matchingRuleInChain') await this.requireActiveDirectory(client);
    });
  }

  /** Ends connections still open; later calls throw DirectoryError('closed'). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.open].map((c) => this.release(c)));
  }

  // -------------------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new DirectoryError('closed', 'directory client is closed');
  }

  private async tlsOptions(host: string): Promise<ConnectionOptions> {
    const options: ConnectionOptions = { host, rejectUnauthorized: !this.config.insecureSkipVerify };
    // SNI must not carry an IP address; the certificate is then checked against the IP SAN via `host`.
    if (!isIP(host)) options.servername = host;
    if (this.config.caFile) {
      try {
        options.ca = await readFile(this.config.caFile, 'utf8');
      } catch (err) {
        throw new DirectoryError('invalid-config', `caFile cannot be read: ${this.config.caFile}: ${(err as Error).message}`);
      }
    }
    return options;
  }

  /** A connected client for `url`, TLS-upgraded if configured, bound as `dn` (or anonymously when dn is undefined). */
  private async connect(url: string, dn: string | undefined, password: string | undefined): Promise<Client> {
    const parsed = new URL(url);
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    const secure = parsed.protocol === 'ldaps:';
    const upgrade = !secure && this.config.startTls === true;
    const tls = secure || upgrade ? await this.tlsOptions(host) : undefined;
    const t = this.r.timeoutMs;
    // ldapts treats any tlsOptions as "connect with TLS", so they go to the constructor only for ldaps://.
    const client = new Client({ url, connectTimeout: t, timeout: t, ...(secure ? { tlsOptions: tls } : {}) });
    this.open.add(client);
    try {
      if (upgrade) {
        await withDeadline(client.startTLS({ ...tls }), t, `StartTLS with ${url}`, () => { void this.release(client); }).catch((err: unknown) => {
          // A server that refuses the StartTLS operation is a TLS failure, not an LDAP operation error.
          if (err instanceof ResultCodeError) throw new DirectoryUnavailableError('tls', `StartTLS refused by ${url}: LDAP result ${err.code} (${err.name})`, { cause: err, resultCode: err.code });
          throw err;
        });
      }
      // An explicit anonymous bind (empty name and password) makes connection failures surface here.
      await client.bind(dn ?? '', dn === undefined ? '' : password);
      return client;
    } catch (err) {
      await this.release(client);
      throw err;
    }
  }

  private async release(client: Client): Promise<void> {
    this.open.delete(client);
    try { await client.unbind(); } catch { /* already gone */ }
  }

  /** Runs `fn` on a service-bound connection; connection failures fall over to the next configured URL. */
  private async withServiceConnection<T>(fn: (client: Client, url: string) => Promise<T>): Promise<T> {
    let last: DirectoryError | undefined;
    for (const url of this.r.urls) {
      let client: Client;
      try {
        client = await this.connect(url, this.config.bindDn, this.config.bindPassword);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) {
          throw new DirectoryUnavailableError('service-bind-failed', `service account bind refused by ${url} (check bindDn/bindPassword): ${this.config.bindDn ?? 'anonymous'}`, { resultCode: err.code });
        }
        last = classify(err, `connecting to ${url}`);
        if (last instanceof DirectoryUnavailableError) continue;
        throw last;
      }
      try {
        return await fn(client, url);
      } catch (err) {
        throw classify(err, url);
      } finally {
        await this.release(client);
      }
    }
    throw last ?? new DirectoryUnavailableError('unreachable', 'no directory URL could be reached');
  }

  /** Binds as the user on a connection of its own (never reused for searches). */
  private async verifyPassword(url: string, dn: string, password: string): Promise<boolean> {
    if (!password) return false; // never an unauthenticated bind, whoever calls this
    let client: Client | undefined;
    try {
      client = await this.connect(url, dn, password);
      return true;
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return false;
      if (err instanceof ResultCodeError && !UNAVAILABLE_RESULTS.has(err.code)) {
        throw new DirectoryError('user-bind-failed', `bind as ${dn} failed: LDAP result ${err.code} (${err.name})${err.message ? `: ${err.message}` : ''}`, { cause: err, resultCode: err.code });
      }
      throw classify(err, `bind as user on ${url}`);
    } finally {
      if (client) await this.release(client);
    }
  }

  private async findUser(client: Client, username: string): Promise<Entry | null> {
    const c = this.config;
    const attributes = [c.usernameAttribute, 'userAccountControl'];
    if (c.emailAttribute) attributes.push(c.emailAttribute);
    if (c.displayNameAttribute) attributes.push(c.displayNameAttribute);
    if (c.groups.mode === 'memberOf') attributes.push(this.r.memberOfAttribute);
    // sizeLimit 2 is enough to tell "exactly one" from "ambiguous" without reading a whole directory.
    const searchEntries = await search(client, 'user search', c.userBaseDn, {
      scope: 'sub', filter: buildUserFilter(c.userFilter, username), attributes, sizeLimit: 2,
    });
    if (searchEntries.length === 0) return null;
    if (searchEntries.length > 1) {
      throw new DirectoryError('ambiguous-user', `userFilter matched more than one entry for one login name under ${c.userBaseDn}; make it unique`);
    }
    const entry = searchEntries[0]!;
    return entry.dn ? entry : null;
  }

  private async toUser(client: Client, entry: Entry, typed: string): Promise<DirectoryUser> {
    const c = this.config;
    const names = values(entry, c.usernameAttribute);
    const username = names.find((n) => n.toLowerCase() === typed.toLowerCase()) ?? names[0] ?? typed;
    const user: DirectoryUser = {
      dn: entry.dn,
      username,
      groups: await this.resolveGroups(client, entry),
      disabled: isUacDisabled(values(entry, 'userAccountControl')[0]) || (await this.matchesDisabledFilter(client, entry.dn)),
    };
    const email = c.emailAttribute ? values(entry, c.emailAttribute)[0] : undefined;
    const displayName = c.displayNameAttribute ? values(entry, c.displayNameAttribute)[0] : undefined;
    if (email) user.email = email;
    if (displayName) user.displayName = displayName;
    return user;
  }

  private async matchesDisabledFilter(client: Client, dn: string): Promise<boolean> {
    if (!this.config.disabledFilter) return false;
    const searchEntries = await search(client, 'disabledFilter check', dn, { scope: 'base', filter: this.config.disabledFilter, attributes: ['1.1'] });
    return searchEntries.length > 0;
  }

  private async searchGroupDns(client: Client, filter: string): Promise<string[]> {
    const entries = await search(client, 'group search', this.config.groups.groupBaseDn!, { scope: 'sub', filter, attributes: ['1.1'], paged: { pageSize: 500 } });
    return entries.map((e) => e.dn).filter(Boolean);
  }

  private async resolveGroups(client: Client, entry: Entry): Promise<string[]> {
    const g = this.config.groups;
    const found = new Map<string, string>(); // dnKey -> normalized DN
    const add = (dn: string): boolean => {
      const key = dnKey(dn);
      if (found.has(key)) return false;
      found.set(key, normalizeDn(dn));
      return true;
    };

    if (g.mode === 'memberOf') for (const dn of values(entry, this.r.memberOfAttribute)) add(dn);
    else for (const dn of await this.searchGroupDns(client, memberGroupFilter(this.r.groupFilter, [entry.dn], this.r.memberAttribute))) add(dn);

    if (g.nested === 'matchingRuleInChain') {
      // Servers without the rule (OpenLDAP) treat the filter as undefined and quietly return nothing,
      // which would look like "no nested groups"; refuse clearly instead.
      await this.requireActiveDirectory(client);
      for (const dn of await this.searchGroupDns(client, inChainGroupFilter(this.r.groupFilter, entry.dn, this.r.memberAttribute))) add(dn);
    } else if (g.nested === 'recursive') {
      // Breadth-first over "groups whose member attribute holds a group we already have"; the `found`
      // set makes cycles terminate and maxDepth bounds deep or hostile hierarchies.
      let frontier = [...found.values()];
      for (let depth = 1; depth <= this.r.maxDepth && frontier.length > 0; depth++) {
        const next: string[] = [];
        for (let i = 0; i < frontier.length; i += GROUP_BATCH) {
          const filter = memberGroupFilter(this.r.groupFilter, frontier.slice(i, i + GROUP_BATCH), this.r.memberAttribute);
          for (const dn of await this.searchGroupDns(client, filter)) if (add(dn)) next.push(dn);
        }
        frontier = next;
      }
    }
    return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, dn]) => dn);
  }

  private async requireActiveDirectory(client: Client): Promise<void> {
    if (this.adChecked) return;
    const searchEntries = await search(client, 'rootDSE read', '', { scope: 'base', filter: '(objectClass=*)', attributes: ['supportedCapabilities'] });
    const caps = searchEntries[0] ? values(searchEntries[0], 'supportedCapabilities') : [];
    if (!caps.some((c) => AD_CAPABILITIES.includes(c))) {
      throw new DirectoryError('unsupported-server',
        `groups.nested "matchingRuleInChain" needs Active Directory (rule ${IN_CHAIN_RULE}); this server does not advertise AD capabilities in its rootDSE. Use groups.nested "recursive" instead.`);
    }
    this.adChecked = true;
  }
}
