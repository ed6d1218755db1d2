// Referrers listings page with Link rel="next" (registry.maxPageSize), keeping the artifactType filter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBerth, type BerthProcess } from '../helpers/berth.js';
import { MT, pushBlob, pushManifest, pushRandomImage, sha256 } from '../helpers/oci.js';

interface Index { manifests: { digest: string; artifactType?: string }[] }

describe('referrers pagination', () => {
  let b: BerthProcess;
  let subject: string;
  const sigs: string[] = [];
  const sboms: string[] = [];
  before(async () => {
    b = await startBerth({ config: { registry: { maxPageSize: 2 } } });
    const img = await pushRandomImage(b.url, 'c/refpage', 'v1');
    subject = img.digest;
    const empty = Buffer.from('{}');
    await pushBlob(b.url, 'c/refpage', empty);
    for (let i = 0; i < 7; i++) {
      const artifactType = i % 2 ? 'application/vnd.example.sbom' : 'application/vnd.example.sig';
      const m = { schemaVersion: 2, mediaType: MT.ociManifest, artifactType, config: { mediaType: MT.ociEmpty, digest: sha256(empty), size: 2 }, layers: [], annotations: { n: String(i) }, subject: { mediaType: MT.ociManifest, digest: img.digest, size: img.manifestBytes.length } };
      const body = Buffer.from(JSON.stringify(m));
      const { res } = await pushManifest(b.url, 'c/refpage', sha256(body), body, MT.ociManifest);
      assert.equal(res.status, 201);
      (i % 2 ? sboms : sigs).push(sha256(body));
    }
  });
  after(async () => { await b.stop(); });

  async function walk(first: string): Promise<{ pages: Index[]; links: string[] }> {
    const pages: Index[] = [];
    const links: string[] = [];
    let url: string | null = first;
    while (url) {
      const res: Response = await fetch(new URL(url, b.url));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), MT.ociIndex);
      pages.push(await res.json() as Index);
      const link = res.headers.get('link');
      url = link ? /^<([^>]+)>;\s*rel="next"$/.exec(link)![1] : null;
      if (link) links.push(link);
      assert.ok(pages.length < 10, 'paging terminates');
    }
    return { pages, links };
  }

  test('every referrer appears exactly once across pages of at most maxPageSize', async () => {
    const { pages } = await walk(`/v2/c/refpage/referrers/${subject}`);
    assert.ok(pages.length >= 4);
    for (const p of pages) assert.ok(p.manifests.length <= 2);
    const all = pages.flatMap((p) => p.manifests.map((m) => m.digest));
    assert.deepEqual([...all].sort(), [...sigs, ...sboms].sort());
    assert.equal(new Set(all).size, all.length);
  });

  test('the artifactType filter is kept on every page', async () => {
    const { pages, links } = await walk(`/v2/c/refpage/referrers/${subject}?artifactType=application/vnd.example.sbom`);
    const all = pages.flatMap((p) => p.manifests);
    assert.deepEqual(all.map((m) => m.digest).sort(), [...sboms].sort());
    for (const m of all) assert.equal(m.artifactType, 'application/vnd.example.sbom');
    for (const l of links) assert.match(l, /artifactType=application%2Fvnd\.example\.sbom/);
  });
});
