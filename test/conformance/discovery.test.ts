// Conformance: content discovery — GET /v2/<name>/tags/list and GET /v2/_catalog with n/last
// pagination and Link headers.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, removeDir, type BerthProcess } from '../helpers/berth.js';
import { MT, sha256, pushBlob, pushManifest, pushRandomImage } from '../helpers/oci.js';
import { expectError, expectStatus, nextLink, repo } from './util.js';

let b: BerthProcess;
let base: string;

// lower-case letters, digits, '.', '-' only: ASCII order and case-insensitive order agree
const TAGS = ['latest', '1.0', '1.0.1', '2', 'a', 'b-1', 'b.2', 'beta', 'z9', '10', 'v1', 'v1.1', 'zz'];
const SORTED = [...TAGS].sort();
const name = 'disc/app';
const REPOS = ['disc/app', 'disc/other', 'disc-a', 'disc.b', 'disc_c', 'zeta/last', 'alpha', 'a0/b1/c2'];

before(async () => {
  b = await startBerth();
  base = b.url;
  const img = await pushRandomImage(base, name, TAGS[0]);
  for (const t of TAGS.slice(1)) {
    const { res } = await pushManifest(base, name, t, img.manifestBytes, MT.ociManifest);
    assert.equal(res.status, 201, `tag ${t}: ${await res.text()}`);
  }
  for (const r of REPOS.filter((x) => x !== name)) await pushRandomImage(base, r, 'latest', { layers: 1, layerSize: 16 });
});
after(async () => {
  await b?.stop();
  if (b) await removeDir(b.dataDir);
});

async function tags(query = '', n = name): Promise<{ res: Response; body: { name: string; tags: string[] } }> {
  const res = await fetch(`${base}/v2/${n}/tags/list${query}`);
  const text = await expectStatus(res, 200, `tags/list${query}`);
  const body = JSON.parse(text) as { name: string; tags: string[] };
  assert.equal(body.name, n);
  assert.ok(Array.isArray(body.tags), `tags must be an array: ${text}`);
  return { res, body };
}

describe('tags/list', () => {
  test('returns {"name","tags"} with every tag in lexical order, no Link', async () => {
    const { res, body } = await tags();
    assert.deepEqual(body.tags, SORTED);
    assert.equal(res.headers.get('link'), null);
    assert.match(res.headers.get('content-type') ?? '', /json/);
  });

  test('?n=3 → the first 3 tags and Link </v2/<name>/tags/list?n=3&last=X>; rel="next"', async () => {
    const { res, body } = await tags('?n=3');
    assert.deepEqual(body.tags, SORTED.slice(0, 3));
    const link = res.headers.get('link');
    assert.ok(link, 'Link header expected when more tags remain');
    const u = nextLink(base, res)!;
    assert.equal(u.pathname, `/v2/${name}/tags/list`);
    assert.equal(u.searchParams.get('n'), '3');
    assert.equal(u.searchParams.get('last'), SORTED[2]);
  });

  test('following Link headers walks every tag exactly once; the last page has no Link', async () => {
    const seen: string[] = [];
    let url: URL | null = new URL(`${base}/v2/${name}/tags/list?n=4`);
    let pages = 0;
    while (url) {
      const res = await fetch(url);
      const body = JSON.parse(await expectStatus(res, 200)) as { tags: string[] };
      assert.ok(body.tags.length <= 4);
      seen.push(...body.tags);
      url = nextLink(base, res);
      if (url) assert.equal(body.tags.length, 4, 'a page followed by more must be full');
      pages += 1;
      assert.ok(pages < 20, 'pagination does not terminate');
    }
    assert.deepEqual(seen, SORTED);
  });

  test('?last=X (no n) → the tags after X', async () => {
    const { body } = await tags(`?last=${SORTED[4]}`);
    assert.deepEqual(body.tags, SORTED.slice(5));
  });

  test('?n=2&last=X → up to 2 tags after X', async () => {
    const { body } = await tags(`?n=2&last=${SORTED[5]}`);
    assert.deepEqual(body.tags, SORTED.slice(6, 8));
  });

  test('?last= a value that is not a tag continues lexically after it', async () => {
    const { body } = await tags('?last=b0');
    assert.deepEqual(body.tags, SORTED.filter((t) => t > 'b0'));
  });

  test('?last= the final tag → empty list, no Link', async () => {
    const { res, body } = await tags(`?last=${SORTED[SORTED.length - 1]}`);
    assert.deepEqual(body.tags, []);
    assert.equal(res.headers.get('link'), null);
  });

  test('?n=0 → empty list and no Link header', async () => {
    const { res, body } = await tags('?n=0');
    assert.deepEqual(body.tags, []);
    assert.equal(res.headers.get('link'), null);
  });

  test('?n larger than the number of tags → all tags, no Link', async () => {
    const { res, body } = await tags('?n=1000');
    assert.deepEqual(body.tags, SORTED);
    assert.equal(res.headers.get('link'), null);
  });

  test('?n=N exactly the number of tags → all tags', async () => {
    const { body } = await tags(`?n=${SORTED.length}`);
    assert.deepEqual(body.tags, SORTED);
  });

  test('mixed-case tags are sorted ASCIIbetically or case-insensitively', async () => {
    const r = repo('disc-case');
    const img = await pushRandomImage(base, r, 'b');
    for (const t of ['B', 'a', 'A', '_x', 'Z1']) {
      const { res } = await pushManifest(base, r, t, img.manifestBytes, MT.ociManifest);
      assert.equal(res.status, 201);
    }
    const { body } = await tags('', r);
    const all = ['b', 'B', 'a', 'A', '_x', 'Z1'];
    const ascii = [...all].sort();
    const ci = [...all].sort((x, y) => x.toLowerCase().localeCompare(y.toLowerCase()) || (x < y ? -1 : 1));
    assert.ok(JSON.stringify(body.tags) === JSON.stringify(ascii) || JSON.stringify(body.tags) === JSON.stringify(ci),
      `unexpected order ${JSON.stringify(body.tags)}`);
  });

  test('a repository that exists but has no tags → 200 with an empty list (or 404 NAME_UNKNOWN if untagged repos are unknown)', async () => {
    const r = repo('disc-untagged');
    await pushBlob(base, r, Buffer.from('blob only'));
    const res = await fetch(`${base}/v2/${r}/tags/list`);
    if (res.status === 200) {
      const body = JSON.parse(await res.text()) as { name: string; tags: string[] | null };
      assert.equal(body.name, r);
      assert.deepEqual(body.tags ?? [], []);
    } else {
      await expectError(res, 404, 'NAME_UNKNOWN');
    }
  });

  test('a manifest pushed by digest adds no tag', async () => {
    const r = repo('disc-digest-only');
    const img = await pushRandomImage(base, r, 'tmp');
    const body = Buffer.from(JSON.stringify({ ...img.manifest, annotations: { x: 'y' } }));
    const { res } = await pushManifest(base, r, sha256(body), body, MT.ociManifest);
    assert.equal(res.status, 201);
    const { body: list } = await tags('', r);
    assert.deepEqual(list.tags, ['tmp']);
  });

  test('unknown repository → 404 NAME_UNKNOWN', async () => {
    await expectError(await fetch(`${base}/v2/${repo('nope')}/tags/list`), 404, 'NAME_UNKNOWN');
  });
});

describe('_catalog', () => {
  async function catalog(query = ''): Promise<{ res: Response; repos: string[] }> {
    const res = await fetch(`${base}/v2/_catalog${query}`);
    const text = await expectStatus(res, 200, `_catalog${query}`);
    const body = JSON.parse(text) as { repositories: string[] };
    assert.ok(Array.isArray(body.repositories), text);
    return { res, repos: body.repositories };
  }

  test('lists every repository, sorted', async () => {
    const { repos } = await catalog();
    for (const r of REPOS) assert.ok(repos.includes(r), `${r} missing from ${JSON.stringify(repos)}`);
    assert.deepEqual(repos, [...repos].sort());
    assert.equal(new Set(repos).size, repos.length, 'duplicates in catalog');
  });

  test('?n=2 → 2 repositories and Link </v2/_catalog?n=2&last=X>; rel="next"', async () => {
    const all = (await catalog()).repos;
    const { res, repos } = await catalog('?n=2');
    assert.deepEqual(repos, all.slice(0, 2));
    const u = nextLink(base, res);
    assert.ok(u, 'Link header expected');
    assert.equal(u.pathname, '/v2/_catalog');
    assert.equal(u.searchParams.get('n'), '2');
    assert.equal(u.searchParams.get('last'), all[1]);
  });

  test('following Link walks the whole catalog; last page has no Link', async () => {
    const all = (await catalog()).repos;
    const seen: string[] = [];
    let url: URL | null = new URL(`${base}/v2/_catalog?n=3`);
    let pages = 0;
    while (url) {
      const res = await fetch(url);
      const body = JSON.parse(await expectStatus(res, 200)) as { repositories: string[] };
      assert.ok(body.repositories.length <= 3);
      seen.push(...body.repositories);
      url = nextLink(base, res);
      pages += 1;
      assert.ok(pages < 50, 'pagination does not terminate');
    }
    assert.deepEqual(seen, all);
  });

  test('?last=X continues after X', async () => {
    const all = (await catalog()).repos;
    const { repos } = await catalog(`?last=${encodeURIComponent(all[2])}`);
    assert.deepEqual(repos, all.slice(3));
    const { repos: two } = await catalog(`?n=2&last=${encodeURIComponent(all[2])}`);
    assert.deepEqual(two, all.slice(3, 5));
  });

  test('?n=0 → empty list, no Link', async () => {
    const { res, repos } = await catalog('?n=0');
    assert.deepEqual(repos, []);
    assert.equal(res.headers.get('link'), null);
  });
});

describe('page size cap (maxPageSize)', () => {
  let pb: BerthProcess;
  const r = 'cap/app';
  const capTags = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

  before(async () => {
    pb = await startBerth({ config: { registry: { maxPageSize: 3 } } });
    const img = await pushRandomImage(pb.url, r, capTags[0], { layers: 1, layerSize: 8 });
    for (const t of capTags.slice(1)) {
      const { res } = await pushManifest(pb.url, r, t, img.manifestBytes, MT.ociManifest);
      assert.equal(res.status, 201);
    }
  });
  after(async () => {
    await pb?.stop();
    if (pb) await removeDir(pb.dataDir);
  });

  test('n above the cap returns at most the cap, with a Link to the rest', async () => {
    const res = await fetch(`${pb.url}/v2/${r}/tags/list?n=100`);
    const body = JSON.parse(await expectStatus(res, 200)) as { tags: string[] };
    assert.ok(body.tags.length <= 3 && body.tags.length > 0, JSON.stringify(body));
    assert.deepEqual(body.tags, capTags.slice(0, body.tags.length));
    assert.ok(nextLink(pb.url, res), 'fewer than n returned while more exist: a Link header is required');
  });

  test('_catalog with n above the cap returns at most the cap, with a Link', async () => {
    for (const r2 of ['cap/b', 'cap/c', 'cap/d']) await pushRandomImage(pb.url, r2, 'latest', { layers: 1, layerSize: 8 });
    const res = await fetch(`${pb.url}/v2/_catalog?n=100`);
    const body = JSON.parse(await expectStatus(res, 200)) as { repositories: string[] };
    assert.ok(body.repositories.length <= 3 && body.repositories.length > 0, JSON.stringify(body));
    assert.ok(nextLink(pb.url, res), 'fewer than n returned while more exist: a Link header is required');
  });

  test('no n: the walk over Links still yields every tag', async () => {
    const seen: string[] = [];
    let url: URL | null = new URL(`${pb.url}/v2/${r}/tags/list`);
    for (let i = 0; url && i < 20; i++) {
      const res = await fetch(url);
      const body = JSON.parse(await expectStatus(res, 200)) as { tags: string[] };
      seen.push(...body.tags);
      url = nextLink(pb.url, res);
    }
    assert.deepEqual(seen, capTags);
  });
});
