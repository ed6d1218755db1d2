// LdapDirectory against a real OpenLDAP slapd (test/helpers/slapd.ts): bind-and-search, hostile names,
// group modes and nesting, disabled accounts, removal seen by lookup(), TLS trust, and "directory down".
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildUserFilter, dnEquals, dnKey, DirectoryError, DirectoryUnavailableError, escapeFilterValue, inChainGroupFilter,
  isAcceptableUsername, isUacDisabled, LdapDirectory, memberGroupFilter, normalizeDn,
  type DirectoryUser, type LdapConfig,
} from '../../src/auth/ldap/ldap-directory.js';
import { createCa } from '../../src/tls/certificates.js';
import { freePort } from '../helpers/berth.js';
import { FIXTURE, startSlapd, type Slapd } from '../helpers/slapd.js';

const { users: U, groups: G } = FIXTURE;

describe('LdapDirectory pure helpers', () => {
  test('in-chain filter for Active Directory nesting', () => {
    assert.equal(
      inChainGroupFilter('(objectClass=group)', 'CN=Alice (Ops),OU=People,DC=corp,DC=example'),
      '(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=CN=Alice \\28Ops\\29,OU=People,DC=corp,DC=example))',
    );
    // a DN escape (\,) is itself escaped for the filter, so the server decodes the exact DN back
    assert.equal(inChainGroupFilter('(objectClass=group)', 'cn=a\\,b,dc=x', 'uniqueMember'),
      '(&(objectClass=group)(uniqueMember:1.2.840.113556.1.4.1941:=cn=a\\5c,b,dc=x))');
  });

  test('RFC 4515 escaping and the user filter', () => {
    assert.equal(escapeFilterValue('a\\b*c(d)e\0f'), 'a\\5cb\\2ac\\28d\\29e\\00f');
    assert.equal(buildUserFilter('(&(objectClass=person)(|(uid={username})(mail={username})))', '*)(uid=*'),
      '(&(objectClass=person)(|(uid=\\2a\\29\\28uid=\\2a)(mail=\\2a\\29\\28uid=\\2a)))');
    assert.equal(memberGroupFilter('(objectClass=groupOfNames)', ['cn=a,dc=x', 'cn=b,dc=x']),
      '(&(objectClass=groupOfNames)(|(member=cn=a,dc=x)(member=cn=b,dc=x)))');
    for (const bad of ['', 'alice\0', 'alice\n', 'al\u007fice', 'x'.repeat(257)]) assert.equal(isAcceptableUsername(bad), false, JSON.stringify(bad));
    assert.equal(isAcceptableUsername('Ålice.O\'Brien@corp'), true);
  });

  test('DN normalization: case, spaces and escapes', () => {
    assert.equal(normalizeDn('CN=Developers, OU=Groups ,DC=berth,  dc=test'), 'cn=Developers,ou=Groups,dc=berth,dc=test');
    assert.equal(dnKey('CN=Developers, OU=Groups,DC=Berth,DC=Test'), 'cn=developers,ou=groups,dc=berth,dc=test');
    assert.equal(normalizeDn('cn=a\\2Cb,dc=x'), 'cn=a\\,b,dc=x');
    assert.ok(dnEquals('cn=a\\2cb,dc=x', 'CN=A\\,B, DC=X'));
    assert.equal(normalizeDn('cn=N\\C3\\BA\\C3\\B1ez,dc=x'), 'cn=Núñez,dc=x');
    assert.equal(normalizeDn('cn=trailing\\ ,dc=x'), 'cn=trailing\\ ,dc=x');
    assert.equal(normalizeDn('cn="quoted, value",dc=x'), 'cn=quoted\\, value,dc=x');
    assert.equal(normalizeDn('cn=a+uid=b,dc=x'), 'cn=a+uid=b,dc=x');
    assert.equal(isUacDisabled('514'), true);
    assert.equal(isUacDisabled('512'), false);
    assert.equal(isUacDisabled(undefined), false);
  });

  test('configuration is checked when constructed', () => {
    const ok: LdapConfig = { url: 'ldap://127.0.0.1:1', userBaseDn: 'dc=x', userFilter: '(uid={username})', usernameAttribute: 'uid', groups: { mode: 'memberOf', nested: 'none' } };
    assert.doesNotThrow(() => new LdapDirectory(ok));
    const invalid = (over: Partial<LdapConfig>) => assert.throws(() => new LdapDirectory({ ...ok, ...over }), (e: unknown) => e instanceof DirectoryError && e.code === 'invalid-config');
    invalid({ bindDn: 'cn=svc,dc=x' });                    // DN without password = unauthenticated bind
    invalid({ bindDn: 'cn=svc,dc=x', bindPassword: '' });
    invalid({ userFilter: '(uid=alice)' });
    invalid({ userFilter: '(uid={username}' });
    invalid({ url: 'http://127.0.0.1' });
    invalid({ groups: { mode: 'search', nested: 'none' } });
    invalid({ groups: { mode: 'memberOf', nested: 'recursive' } });
    invalid({ groups: { mode: 'memberOf', nested: 'recursive', groupBaseDn: 'dc=x', maxDepth: -1 } });
  });
});

describe('LdapDirectory against OpenLDAP slapd', () => {
  let s: Slapd;
  let work: string;
  let wrongCa: string;

  before(async () => {
    s = await startSlapd({ tls: true });
    work = await mkdtemp(path.join(os.tmpdir(), 'berth-ldap-test-'));
    wrongCa = path.join(work, 'wrong-ca.pem');
    await writeFile(wrongCa, (await createCa('Some other CA')).cert);
  });
  after(async () => {
    await s?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const config = (over: Partial<LdapConfig> = {}, groups: Partial<LdapConfig['groups']> = {}): LdapConfig => ({
    url: s.url,
    bindDn: FIXTURE.service.dn,
    bindPassword: FIXTURE.service.password,
    timeoutMs: 5000,
    userBaseDn: FIXTURE.peopleDn,
    userFilter: '(&(objectClass=inetOrgPerson)(uid={username}))',
    usernameAttribute: 'uid',
    emailAttribute: 'mail',
    displayNameAttribute: 'cn',
    disabledFilter: FIXTURE.disabledFilter,
    ...over,
    groups: { mode: 'memberOf', nested: 'none', groupBaseDn: FIXTURE.groupsDn, ...groups },
  });

  async function withDirectory<T>(cfg: LdapConfig, fn: (d: LdapDirectory) => Promise<T>): Promise<T> {
    const d = new LdapDirectory(cfg);
    try { return await fn(d); } finally { await d.close(); }
  }
  const auth = (cfg: LdapConfig, name: string, pw: string) => withDirectory(cfg, (d) => d.authenticate(name, pw));
  const lookup = (cfg: LdapConfig, name: string) => withDirectory(cfg, (d) => d.lookup(name));
  const groupsOf = async (cfg: LdapConfig, name: string) => (await lookup(cfg, name))!.groups;

  async function rejectsWith(p: Promise<unknown>, cls: typeof DirectoryError, code: string, secret?: string): Promise<DirectoryError> {
    let caught: unknown;
    try { await p; } catch (e) { caught = e; }
    assert.ok(caught instanceof cls, `expected ${cls.name}(${code}), got ${caught instanceof Error ? `${caught.name}(${(caught as DirectoryError).code}): ${caught.message}` : String(caught)}`);
    const err = caught as DirectoryError;
    assert.equal(err.code, code, err.message);
    if (secret) {
      const text = [err.message, err.stack, String((err.cause as Error | undefined)?.message ?? ''), JSON.stringify(err)].join('\n');
      assert.ok(!text.includes(secret), 'a password leaked into the error');
    }
    return err;
  }

  describe('bind and search', () => {
    test('correct password returns the user with attributes and direct groups', async () => {
      const u = await auth(config(), 'alice', U.alice.password);
      assert.deepEqual(u, {
        dn: U.alice.dn, username: 'alice', email: 'alice@berth.test', displayName: 'Alice Archer',
        groups: [G.developers], disabled: false,
      } satisfies DirectoryUser);
    });

    test('wrong, empty and other users\' passwords are refused; unknown users are null', async () => {
      await withDirectory(config(), async (d) => {
        assert.equal(await d.authenticate('alice', 'wrong'), null);
        assert.equal(await d.authenticate('alice', ''), null);
        assert.equal(await d.authenticate('alice', U.bob.password), null);
        assert.equal(await d.authenticate('nobody', 'whatever'), null);
        assert.equal(await d.lookup('nobody'), null);
      });
    });

    test('the login name is matched case-insensitively but returned as the directory spells it', async () => {
      const u = await auth(config(), 'ALICE', U.alice.password);
      assert.equal(u?.username, 'alice');
    });

    test('UTF-8 passwords and attribute values', async () => {
      const u = await auth(config(), 'carol', U.carol.password);
      assert.equal(u?.displayName, 'Carol Núñez');
      assert.equal(await auth(config(), 'carol', 'carol secret 3'), null);
    });

    test('Active Directory style attributes: sAMAccountName and userAccountControl', async () => {
      const ad = config({ userFilter: '(&(objectClass=inetOrgPerson)(sAMAccountName={username}))', usernameAttribute: 'sAMAccountName', disabledFilter: undefined });
      const alice = await auth(ad, 'alice', U.alice.password);
      assert.equal(alice?.username, 'Alice');
      assert.equal(alice?.disabled, false);
      const erin = await auth(ad, 'erin', U.erin.password);
      assert.equal(erin?.disabled, true, 'ACCOUNTDISABLE (0x2) in userAccountControl=514');
    });

    test('anonymous search when no service account is configured', async () => {
      const u = await auth(config({ bindDn: undefined, bindPassword: undefined }), 'bob', U.bob.password);
      assert.equal(u?.dn, U.bob.dn);
    });

    test('a refused service account is "directory unavailable", and its password is not in the error', async () => {
      const cfg = config({ bindPassword: 'svc-wrong-Secret' });
      await rejectsWith(auth(cfg, 'alice', U.alice.password), DirectoryUnavailableError, 'service-bind-failed', 'svc-wrong-Secret');
      await rejectsWith(lookup(cfg, 'alice'), DirectoryUnavailableError, 'service-bind-failed', 'svc-wrong-Secret');
    });

    test('a user filter matching several entries is an error, not a login', async () => {
      const cfg = config({ userFilter: '(&(objectClass=inetOrgPerson)(|(uid={username})(uid=bob)))' });
      await rejectsWith(auth(cfg, 'alice', U.alice.password), DirectoryError, 'ambiguous-user');
    });

    test('a wrong base DN is an error, so a sync never reads it as "user removed"', async () => {
      const err = await rejectsWith(lookup(config({ userBaseDn: `ou=nope,${FIXTURE.baseDn}` }), 'alice'), DirectoryError, 'operation-failed');
      assert.equal(err.resultCode, 32); // noSuchObject
    });

    test('close() ends the client', async () => {
      const d = new LdapDirectory(config());
      await d.close();
      await rejectsWith(d.authenticate('alice', U.alice.password), DirectoryError, 'closed');
    });
  });

  describe('hostile login names', () => {
    const hostile = ['*', 'al*', '*lice', 'a*e', '*)(uid=*', 'alice)(uid=*', 'alice)(|(uid=*', '*)(objectClass=*', 'alice))(|(uid=*',
      '\\2a', 'alice\\', 'alice\u0000', 'alice\u0000)(uid=*', 'alice\n', 'x'.repeat(300)];

    test('cannot widen the search or match another user', async () => {
      await withDirectory(config(), async (d) => {
        for (const name of hostile) {
          assert.equal(await d.authenticate(name, U.alice.password), null, `authenticate(${JSON.stringify(name)})`);
          assert.equal(await d.lookup(name), null, `lookup(${JSON.stringify(name)})`);
        }
      });
    });

    test('a name made of filter metacharacters is matched literally', async () => {
      const dn = `cn=odd name,${FIXTURE.peopleDn}`;
      const odd = 'we*rd(name)\\x';
      await s.modify(`dn: ${dn}\nchangetype: add\nobjectClass: inetOrgPerson\ncn: odd name\nsn: odd\nuid: ${odd}\nuserPassword: odd-Secret-7\n`);
      try {
        await withDirectory(config(), async (d) => {
          assert.equal((await d.authenticate(odd, 'odd-Secret-7'))?.dn, dn);
          assert.equal(await d.authenticate('we*', 'odd-Secret-7'), null);
          assert.equal(await d.authenticate('we*rd(name)*', 'odd-Secret-7'), null);
        });
      } finally {
        await s.modify(`dn: ${dn}\nchangetype: delete\n`);
      }
    });
  });

  describe('groups', () => {
    test('memberOf mode: direct groups from the memberof overlay', async () => {
      assert.deepEqual(await groupsOf(config(), 'alice'), [G.developers]);
      assert.deepEqual(await groupsOf(config(), 'bob'), [G.registryAdmins]);
      assert.deepEqual(await groupsOf(config(), 'carol'), [G.cycleA]);
      assert.deepEqual(await groupsOf(config(), 'erin'), []);
    });

    test('search mode: direct groups by member attribute', async () => {
      assert.deepEqual(await groupsOf(config({}, { mode: 'search' }), 'alice'), [G.developers]);
      assert.deepEqual(await groupsOf(config({}, { mode: 'search' }), 'bob'), [G.registryAdmins]);
      assert.deepEqual(await groupsOf(config({}, { mode: 'search', memberAttribute: 'uniqueMember' }), 'bob'), [G.auditors]);
    });

    test('recursive nesting: alice is in developers, platform (via developers) and ops (via platform)', async () => {
      const expected = [G.developers, G.ops, G.platform];
      assert.deepEqual(await groupsOf(config({}, { mode: 'search', nested: 'recursive' }), 'alice'), expected);
      assert.deepEqual(await groupsOf(config({}, { mode: 'memberOf', nested: 'recursive' }), 'alice'), expected);
      const u = await auth(config({}, { nested: 'recursive' }), 'alice', U.alice.password);
      assert.deepEqual(u?.groups, expected);
    });

    test('a membership cycle terminates', async () => {
      assert.deepEqual(await groupsOf(config({}, { mode: 'search', nested: 'recursive' }), 'carol'), [G.cycleA, G.cycleB]);
      assert.deepEqual(await groupsOf(config({}, { mode: 'search', nested: 'recursive', maxDepth: 1000 }), 'carol'), [G.cycleA, G.cycleB]);
    });

    test('maxDepth bounds the levels followed above the direct groups', async () => {
      const depth = (maxDepth: number) => groupsOf(config({}, { mode: 'search', nested: 'recursive', maxDepth }), 'alice');
      assert.deepEqual(await depth(0), [G.developers]);
      assert.deepEqual(await depth(1), [G.developers, G.platform]);
      assert.deepEqual(await depth(2), [G.developers, G.ops, G.platform]);
    });

    test('matchingRuleInChain is refused clearly by a server that is not Active Directory', async () => {
      const cfg = config({}, { nested: 'matchingRuleInChain' });
      const err = await rejectsWith(lookup(cfg, 'alice'), DirectoryError, 'unsupported-server');
      assert.ok(!(err instanceof DirectoryUnavailableError));
      assert.match(err.message, /recursive/);
      await rejectsWith(withDirectory(cfg, (d) => d.check()), DirectoryError, 'unsupported-server');
      await withDirectory(config(), (d) => d.check());
    });
  });

  describe('disabled accounts and removal', () => {
    test('a user matching disabledFilter is flagged (after a correct password), others are not', async () => {
      const dave = await auth(config(), 'dave', U.dave.password);
      assert.equal(dave?.disabled, true);
      assert.equal((await lookup(config(), 'dave'))?.disabled, true);
      assert.equal((await lookup(config({ disabledFilter: undefined }), 'dave'))?.disabled, false);
      assert.equal((await lookup(config(), 'alice'))?.disabled, false);
      assert.equal(await auth(config(), 'dave', 'wrong'), null);
    });

    test('lookup() sees a user added and then removed while running', async () => {
      const dn = `uid=frank,${FIXTURE.peopleDn}`;
      await s.modify([
        `dn: ${dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: frank\ncn: Frank Fresh\nsn: Fresh\nmail: frank@berth.test\nuserPassword: frank-Secret-6\n`,
        `dn: ${G.registryAdmins}\nchangetype: modify\nadd: member\nmember: ${dn}\n`,
      ].join('\n'));
      await withDirectory(config(), async (d) => {
        const frank = await d.lookup('frank');
        assert.equal(frank?.dn, dn);
        assert.deepEqual(frank?.groups, [G.registryAdmins]);
        assert.equal((await d.authenticate('frank', 'frank-Secret-6'))?.username, 'frank');
        await s.modify(`dn: ${G.registryAdmins}\nchangetype: modify\ndelete: member\nmember: ${dn}\n\ndn: ${dn}\nchangetype: delete\n`);
        assert.equal(await d.lookup('frank'), null);
        assert.equal(await d.authenticate('frank', 'frank-Secret-6'), null);
        assert.equal((await d.lookup('alice'))?.dn, U.alice.dn);
      });
    });
  });

  describe('TLS', () => {
    test('ldaps:// with the right CA', async () => {
      const u = await auth(config({ url: s.ldapsUrl!, caFile: s.caFile }), 'alice', U.alice.password);
      assert.equal(u?.dn, U.alice.dn);
    });

    test('ldaps:// with a CA that did not sign the server certificate fails as unavailable', async () => {
      await rejectsWith(auth(config({ url: s.ldapsUrl!, caFile: wrongCa }), 'alice', U.alice.password), DirectoryUnavailableError, 'tls', FIXTURE.service.password);
      // no caFile: the system store does not know the test CA either
      await rejectsWith(lookup(config({ url: s.ldapsUrl! }), 'alice'), DirectoryUnavailableError, 'tls');
    });

    test('insecureSkipVerify accepts an unknown CA (opt-in only)', async () => {
      const u = await lookup(config({ url: s.ldapsUrl!, caFile: wrongCa, insecureSkipVerify: true }), 'alice');
      assert.equal(u?.dn, U.alice.dn);
    });

    test('StartTLS with the right CA, and with a wrong one', async () => {
      const u = await auth(config({ startTls: true, caFile: s.caFile }), 'alice', U.alice.password);
      assert.equal(u?.dn, U.alice.dn);
      await rejectsWith(auth(config({ startTls: true, caFile: wrongCa }), 'alice', U.alice.password), DirectoryUnavailableError, 'tls', U.alice.password);
    });
  });

  describe('directory down', () => {
    test('nothing listening: DirectoryUnavailableError, for authenticate and lookup', async () => {
      const cfg = config({ url: `ldap://127.0.0.1:${await freePort()}` });
      await rejectsWith(auth(cfg, 'alice', U.alice.password), DirectoryUnavailableError, 'unreachable', U.alice.password);
      await rejectsWith(lookup(cfg, 'alice'), DirectoryUnavailableError, 'unreachable');
    });

    test('ldaps:// to a plain port and ldap:// to an ldaps port fail as unavailable, without hanging', async () => {
      const plainPort = new URL(s.url).port;
      const tlsPort = new URL(s.ldapsUrl!).port;
      for (const url of [`ldaps://127.0.0.1:${plainPort}`, `ldap://127.0.0.1:${tlsPort}`]) {
        let caught: unknown;
        try { await lookup(config({ url, caFile: s.caFile, timeoutMs: 2000 }), 'alice'); } catch (e) { caught = e; }
        assert.ok(caught instanceof DirectoryUnavailableError, `${url}: ${String(caught)}`);
      }
    });

    test('falls over to the next URL', async () => {
      const u = await auth(config({ url: `ldap://127.0.0.1:${await freePort()} ${s.url}` }), 'alice', U.alice.password);
      assert.equal(u?.dn, U.alice.dn);
    });

    test('a server that accepts but never answers times out', async () => {
      const sockets = new Set<net.Socket>();
      const silent = net.createServer((c) => { sockets.add(c); c.on('error', () => {}); });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
      const { port } = silent.address() as net.AddressInfo;
      try {
        const started = Date.now();
        await rejectsWith(auth(config({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 300 }), 'alice', U.alice.password), DirectoryUnavailableError, 'timeout');
        assert.ok(Date.now() - started < 3000);
        await rejectsWith(lookup(config({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 300, startTls: true, caFile: s.caFile }), 'alice'), DirectoryUnavailableError, 'timeout');
      } finally {
        for (const c of sockets) c.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });
  });
});
