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
  const { globMatch: matchesPattern, globProblem } = await import('../../src/lib/glob.js');
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

  test('more wildcard cases: empty matches, runs of stars, ** across several components', () => {
    assert.ok(matchesPattern('a/*', 'a/'));
    assert.ok(matchesPattern('a/**/b', 'a/x/y/b'));
    assert.ok(matchesPattern('a/**b', 'a/b'));
    assert.ok(!matchesPattern('a/*b', 'a/x/b'));
    assert.ok(matchesPattern('***', 'x/y'));
    assert.ok(matchesPattern('*', ''));
    assert.ok(!matchesPattern('', 'x'));
  });

  test('a hostile pattern costs at most pattern x name steps, not exponential in the wildcards', () => {
    // A backtracking regular expression never finishes these; the automaton takes a bounded number of steps.
    const name = `bob/${'a'.repeat(240)}`;
    for (const wildcards of [4, 16, 200]) {
      const hostile = `bob/${'*a'.repeat(wildcards)}*b`;
      const work = { steps: 0 };
      assert.equal(matchesPattern(hostile, name, work), false);
      const bound = (hostile.length + 1) * (name.length + 1);
      assert.ok(work.steps <= bound, `${work.steps} steps for ${wildcards} wildcards (bound ${bound})`);
    }
    assert.equal(matchesPattern(`bob/${'*a'.repeat(16)}*`, name), true);
  });

  test('patterns that could not be stored are refused with a reason', () => {
    assert.equal(globProblem('acme/app-*'), null);
    assert.match(globProblem(`bob/${'*a'.repeat(17)}`)!, /wildcards/);
    assert.match(globProblem('x'.repeat(256))!, /longer/);
    assert.match(globProblem('Bob/(a+)+')!, /only/);
    assert.match(globProblem('')!, /empty/);
  });
});
