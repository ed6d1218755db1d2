import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatScope, parseResourceScope, parseScopes } from '../../src/auth/scope.js';

describe('token scope grammar', () => {
  test('repository scopes with one or more actions', () => {
    assert.deepEqual(parseResourceScope('repository:samalba/my-app:pull,push'), { type: 'repository', name: 'samalba/my-app', actions: ['pull', 'push'] });
    assert.deepEqual(parseResourceScope('repository:app:pull'), { type: 'repository', name: 'app', actions: ['pull'] });
    assert.deepEqual(parseResourceScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  });

  test('a registry host with a port stays part of the name', () => {
    assert.deepEqual(parseResourceScope('repository:localhost:5000/team/app:pull'), { type: 'repository', name: 'localhost:5000/team/app', actions: ['pull'] });
  });

  test('the deprecated resource class is dropped from the type', () => {
    assert.equal(parseResourceScope('repository(plugin):vieux/sshfs:pull')?.type, 'repository');
  });

  test('malformed scopes are dropped, not errors', () => {
    for (const bad of ['', 'repository', 'repository:app', ':app:pull', 'repository::pull', 'Repo:app:pull', 'repository:app:PULL', 'repository:app:pu;ll']) {
      assert.equal(parseResourceScope(bad), null, bad);
    }
  });

  test('several values and space-separated scopes merge per resource', () => {
    const s = parseScopes(['repository:a:pull repository:b:push', 'repository:a:push', 'garbage']);
    assert.deepEqual(s.map(formatScope), ['repository:a:pull,push', 'repository:b:push']);
  });
});

describe('access token repository patterns', async () => {
  const { matchesPattern } = await import('../../src/auth/access-tokens.js');
  test('* stays within a path component, ** crosses them, other characters are literal', () => {
    assert.ok(matchesPattern('team/*', 'team/app'));
    assert.ok(!matchesPattern('team/*', 'team/a/b'));
    assert.ok(matchesPattern('team/**', 'team/a/b'));
    assert.ok(matchesPattern('dave/ci-*', 'dave/ci-app'));
    assert.ok(!matchesPattern('dave/ci-*', 'dave/cd-app'));
    assert.ok(!matchesPattern('a.b', 'axb'));
    assert.ok(matchesPattern('exact/name', 'exact/name'));
    assert.ok(!matchesPattern('exact/name', 'exact/name2'));
  });
});
