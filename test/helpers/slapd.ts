// A real OpenLDAP `slapd` for tests: fresh temp dir, generated slapd.conf, a fixture directory loaded over
// LDAP (so the memberof overlay sees it), listening on free 127.0.0.1 ports. A missing slapd is a failure
// with the install command, never a skip.
//
// Fixture (dc=berth,dc=test), see FIXTURE below for exact DNs and passwords:
//   ou=services  cn=berth-svc (service account for searches)
//   ou=people    alice, bob, carol, dave, erin (inetOrgPerson + extensibleObject carrying AD-style
//                sAMAccountName = capitalized uid and userAccountControl)
//                dave:  employeeType=disabled  -> disabled only through disabledFilter "(employeeType=disabled)"
//                erin:  userAccountControl=514 -> disabled through AD's ACCOUNTDISABLE bit (0x2)
//   ou=groups    groupOfNames developers{alice}, platform{developers}, ops{platform}, registry-admins{bob},
//                cycle-a{carol, cycle-b}, cycle-b{cycle-a}; groupOfUniqueNames auditors{uniqueMember: bob}
// The memberof overlay keeps memberOf on members of groupOfNames groups: direct groups only.
// Anonymous clients may read everything except userPassword (rootDSE included), like many real directories,
// and unauthenticated binds (DN + empty password) are allowed, like Active Directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './berth.js';
import { which } from './tools.js';
import { createCa, issueCertificate } from '../../src/tls/certificates.js';

const INSTALL = 'slapd is required: apt-get install -y slapd ldap-utils';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';
const AD_SCHEMA = fileURLToPath(new URL('../fixtures/ldap/ad-compat.schema', import.meta.url));

const BASE = 'dc=berth,dc=test';
const PEOPLE = `ou=people,${BASE}`;
const GROUPS = `ou=groups,${BASE}`;

interface FixtureUser { uid: string; dn: string; password: string; mail: string; cn: string; sAMAccountName: string; userAccountControl: number; employeeType?: string }

function user(uid: string, cn: string, password: string, extra: { employeeType?: string; userAccountControl?: number } = {}): FixtureUser {
  return {
    uid, cn, password, dn: `uid=${uid},${PEOPLE}`, mail: `${uid}@berth.test`,
    sAMAccountName: uid[0]!.toUpperCase() + uid.slice(1), userAccountControl: extra.userAccountControl ?? 512,
    ...(extra.employeeType ? { employeeType: extra.employeeType } : {}),
  };
}

const group = (cn: string) => `cn=${cn},${GROUPS}`;

/** Facts about the fixture directory, for assertions. */
export const FIXTURE = {
  baseDn: BASE,
  peopleDn: PEOPLE,
  groupsDn: GROUPS,
  adminDn: `cn=admin,${BASE}`,
  adminPassword: 'admin-Secret-9',
  service: { dn: `cn=berth-svc,ou=services,${BASE}`, password: 'svc-Secret-0' },
  users: {
    alice: user('alice', 'Alice Archer', 'alice-Secret-1'),
    bob: user('bob', 'Bob Baker', 'bob-Secret-2'),
    // non-ASCII name and a password with a space and non-ASCII characters: UTF-8 end to end
    carol: user('carol', 'Carol Núñez', 'cärol secret 3'),
    dave: user('dave', 'Dave Disabled', 'dave-Secret-4', { employeeType: 'disabled' }),
    erin: user('erin', 'Erin Adlocked', 'erin-Secret-5', { userAccountControl: 514 }),
  },
  groups: {
    developers: group('developers'),
    platform: group('platform'),
    ops: group('ops'),
    registryAdmins: group('registry-admins'),
    cycleA: group('cycle-a'),
    cycleB: group('cycle-b'),
    auditors: group('auditors'),
  },
  /** Marks dave (employeeType=disabled) as disabled; erin is disabled by userAccountControl regardless. */
  disabledFilter: '(employeeType=disabled)',
} as const;

export interface Slapd {
  /** ldap://127.0.0.1:<port> (StartTLS available on it). */
  url: string;
  /** ldaps://127.0.0.1:<port2>, when started with { tls: true }. */
  ldapsUrl?: string;
  /** PEM of the CA that signed the server certificate (issued for IP 127.0.0.1 only). */
  caFile: string;
  baseDn: string;
  adminDn: string;
  adminPassword: string;
  dir: string;
  stop(): Promise<void>;
  /** Applies LDIF with ldapmodify as the admin (use "changetype: add|modify|delete" records). */
  modify(ldif: string): Promise<void>;
}


/** `{SSHA}` as slappasswd makes it: base64(sha1(password || salt) || salt). */
export function sshaHash(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(Buffer.from(password, 'utf8')).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

// LDIF values that are not plain ASCII (or start with a special char) go base64-encoded (RFC 2849).
function line(attr: string, value: string): string {
  return /^[\x21-\x39\x3b\x3d-\x7e][\x20-\x7e]*$/.test(value) && !value.endsWith(' ')
    ? `${attr}: ${value}`
    : `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

function entry(dn: string, attrs: [string, string][]): string {
  return [line('dn', dn), ...attrs.map(([a, v]) => line(a, v))].join('\n');
}

/** The whole fixture as LDIF (parents first; groups after their members). */
export function fixtureLdif(): string {
  const F = FIXTURE;
  const out: string[] = [
    entry(BASE, [['objectClass', 'dcObject'], ['objectClass', 'organization'], ['o', 'Berth test'], ['dc', 'berth']]),
    entry(`ou=services,${BASE}`, [['objectClass', 'organizationalUnit'], ['ou', 'services']]),
    entry(PEOPLE, [['objectClass', 'organizationalUnit'], ['ou', 'people']]),
    entry(GROUPS, [['objectClass', 'organizationalUnit'], ['ou', 'groups']]),
    entry(F.service.dn, [['objectClass', 'organizationalRole'], ['objectClass', 'simpleSecurityObject'], ['cn', 'berth-svc'], ['userPassword', sshaHash(F.service.password)]]),
  ];
  for (const u of Object.values(F.users)) {
    const attrs: [string, string][] = [
      ['objectClass', 'inetOrgPerson'], ['objectClass', 'extensibleObject'],
      ['uid', u.uid], ['cn', u.cn], ['sn', u.cn.split(' ').pop()!], ['mail', u.mail],
      ['sAMAccountName', u.sAMAccountName], ['userAccountControl', String(u.userAccountControl)],
      ['userPassword', sshaHash(u.password)],
    ];
    if ('employeeType' in u && u.employeeType) attrs.push(['employeeType', u.employeeType]);
    out.push(entry(u.dn, attrs));
  }
  const gon = (cn: string, members: string[]) =>
    entry(group(cn), [['objectClass', 'groupOfNames'], ['cn', cn], ...members.map((m): [string, string] => ['member', m])]);
  out.push(
    gon('developers', [F.users.alice.dn]),
    gon('platform', [F.groups.developers]),
    gon('ops', [F.groups.platform]),
    gon('registry-admins', [F.users.bob.dn]),
    gon('cycle-a', [F.users.carol.dn, F.groups.cycleB]),
    gon('cycle-b', [F.groups.cycleA]),
    entry(F.groups.auditors, [['objectClass', 'groupOfUniqueNames'], ['cn', 'auditors'], ['uniqueMember', F.users.bob.dn]]),
  );
  return `${out.join('\n\n')}\n`;
}

function slapdConf(dir: string, tls: { ca: string; cert: string; key: string }): string {
  const F = FIXTURE;
  return `# generated by test/helpers/slapd.ts
include ${SCHEMA_DIR}/core.schema
include ${SCHEMA_DIR}/cosine.schema
include ${SCHEMA_DIR}/inetorgperson.schema
include ${SCHEMA_DIR}/nis.schema
include ${AD_SCHEMA}
modulepath ${MODULE_DIR}
moduleload back_mdb
moduleload memberof
pidfile ${dir}/slapd.pid
argsfile ${dir}/slapd.args
TLSCACertificateFile ${tls.ca}
TLSCertificateFile ${tls.cert}
TLSCertificateKeyFile ${tls.key}

# Accept "unauthenticated binds" (a DN with an empty password, RFC 4513 5.1.2) as Active Directory does, so
# tests prove the client refuses empty passwords itself instead of relying on the server.
allow bind_anon_dn

access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read

database mdb
maxsize 67108864
suffix "${F.baseDn}"
rootdn "${F.adminDn}"
rootpw ${F.adminPassword}
directory ${dir}/db
index objectClass eq
index uid,cn,mail,sAMAccountName eq
index member,uniqueMember eq
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
`;
}

function waitForPort(port: number, child: ChildProcess, stderr: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`slapd exited (${child.exitCode ?? child.signalCode}) before listening:\n${stderr()}`));
        return;
      }
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => { sock.destroy(); resolve(); });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`slapd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${stderr()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function runTool(cmd: string, args: string[], input: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => { out += String(e); });
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
    p.stdin.end(input);
  });
}

export async function startSlapd(opts: { tls?: boolean } = {}): Promise<Slapd> {
  const slapdBin = ['/usr/sbin/slapd', which('slapd')].find((p) => p && spawnSync('test', ['-x', p]).status === 0);
  const ldapmodify = which('ldapmodify');
  if (!slapdBin || !which('ldapadd') || !ldapmodify) throw new Error(INSTALL);
  if (spawnSync('test', ['-e', `${MODULE_DIR}/back_mdb.so`]).status !== 0) throw new Error(`${INSTALL} (no ${MODULE_DIR}/back_mdb.so)`);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-slapd-'));
  let child: ChildProcess | undefined;
  const killOnExit = () => { child?.kill('SIGKILL'); };
  try {
    await mkdir(path.join(dir, 'db'));
    const ca = await createCa('Berth test LDAP CA');
    const leaf = await issueCertificate(ca, ['127.0.0.1']);
    const tls = { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem') };
    await writeFile(tls.ca, ca.cert);
    await writeFile(tls.cert, leaf.cert);
    await writeFile(tls.key, leaf.key, { mode: 0o600 });
    const conf = path.join(dir, 'slapd.conf');
    await writeFile(conf, slapdConf(dir, tls));
    const pwFile = path.join(dir, 'admin.pw');
    await writeFile(pwFile, FIXTURE.adminPassword, { mode: 0o600 }); // -y reads it verbatim (no newline)

    const port = await freePort();
    const url = `ldap://127.0.0.1:${port}`;
    const tlsPort = opts.tls ? await freePort() : undefined;
    const ldapsUrl = tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined;
    const listen = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])].join(' ');

    // -d keeps slapd in the foreground, so the pid we hold is slapd's own and its log reaches us.
    child = spawn(slapdBin, ['-f', conf, '-h', listen, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    child.on('error', (e) => { log += `\n${String(e)}`; });
    process.once('exit', killOnExit);
    await waitForPort(port, child, () => log, 10_000);
    if (tlsPort) await waitForPort(tlsPort, child, () => log, 10_000);

    const ldapArgs = ['-x', '-H', url, '-D', FIXTURE.adminDn, '-y', pwFile];
    const loaded = await runTool(ldapmodify, [...ldapArgs, '-a'], fixtureLdif());
    if (loaded.code !== 0) throw new Error(`loading the LDAP fixture failed (exit ${loaded.code}):\n${loaded.out}\n--- slapd ---\n${log}`);

    const proc = child;
    let stopped = false;
    return {
      url, ldapsUrl, caFile: tls.ca, baseDn: FIXTURE.baseDn, adminDn: FIXTURE.adminDn, adminPassword: FIXTURE.adminPassword, dir,
      async modify(ldif: string) {
        const r = await runTool(ldapmodify, ldapArgs, ldif);
        if (r.code !== 0) throw new Error(`ldapmodify failed (exit ${r.code}):\n${r.out}`);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', killOnExit);
        await stopProcess(proc);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    process.removeListener('exit', killOnExit);
    if (child) await stopProcess(child);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
