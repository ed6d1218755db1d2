// The `scale` scenario: both registries are populated the same way over HTTP (N repositories with one
// small image each, and one repository with M tags, each tag its own small image manifest that
// references one tiny shared config and layer), and the lookups and listings a registry serves all
// day are timed at small size (100 repositories, 100 tags) and again at full size, so that the cost of
// growth shows as the full/small ratio per operation.
import { randomBytes } from 'node:crypto';
import { CATALOG_SCOPE, repoScope } from './auth.js';
import { sha256 } from './data.js';
import { mountBlob, mountScopes, pushMonolithic, putManifest, request, RequestError, type Endpoint, type Res } from './http.js';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

export const SCALE_BASE = 'bench/scale/base';
export const SCALE_TAGS = 'bench/scale/tags';
/** repositories and tags at the small size */
export const SMALL = 100;
/** untimed requests right before each operation's timed ones (besides the untimed pass over all of them) */
export const WARM_REQUESTS = 20;
/** time budget of an operation's timed requests, and the fewest it gets whatever the budget */
export const OP_BUDGET_MS = 60_000;
const MIN_TIMED = 20;

export interface ScaleOptions {
  repos: number;
  tags: number;
  /** concurrent clients while populating */
  clients: number;
  /** timed sequential requests per operation and size (after a few untimed ones) */
  requests: number;
}

export interface ScaleTarget {
  name: string;
  ep: Endpoint;
  /** Berth only: headers for its management API (a fresh session: the API asks for one even with auth.enabled false) */
  apiHeaders?: () => Promise<Record<string, string>>;
}

export interface OpDef { key: string; label: string; berthOnly?: boolean }

export const SCALE_OPS: OpDef[] = [
  { key: 'getTag', label: 'Manifest GET by tag (random tag)' },
  { key: 'headTag', label: 'Manifest HEAD by tag (random tag)' },
  { key: 'getDigest', label: 'Manifest GET by digest (random)' },
  { key: 'tagsFirst', label: '`tags/list?n=100`, first page' },
  { key: 'tagsDeep', label: '`tags/list?n=100&last=…`, last full page' },
  { key: 'catalog', label: '`_catalog?n=100`' },
  { key: 'apiTagsFirst', label: 'API `repositories/{name}/tags?n=100`, first page', berthOnly: true },
  { key: 'apiTagsDeep', label: 'API `repositories/{name}/tags?n=100&last=…`, last full page', berthOnly: true },
  { key: 'apiRepoSearch', label: 'API `repositories?q=…&n=100`', berthOnly: true },
];

export interface Latency { p50: number; p99: number; n: number; items?: number }
export type OpCell = Latency | { error: string };

export interface ScaleResult {
  sizes: { small: { repos: number; tags: number }; full: { repos: number; tags: number } };
  small: Map<string, OpCell>;
  full: Map<string, OpCell>;
  /** manifest PUTs per second while the tags repository grew from small to full size */
  tagPutRate?: number;
  tagPuts: number;
  /** repositories created per second (2 blob mounts and a manifest PUT each; a token per repository with tokens) */
  repoRate?: number;
  repoCount: number;
  populateSecs: number;
  /** requests of the population that failed (each named in `errors`, the first few) */
  failed: number;
  errors: string[];
  notes: string[];
}

export interface ScaleFixture {
  config: { data: Buffer; digest: string };
  layer: { data: Buffer; digest: string };
  tagName(i: number): string;
  repoName(i: number): string;
  /** the image manifest tag i of SCALE_TAGS points at (its own bytes: an annotation names the tag) */
  tagManifest(i: number): Buffer;
  tagDigest(i: number): string;
  repoManifest(i: number): Buffer;
}

export function makeScaleFixture(o: ScaleOptions): ScaleFixture {
  const layer = randomBytes(256);
  const configData = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, config: {} }));
  const config = { data: configData, digest: sha256(configData) };
  const lay = { data: layer, digest: sha256(layer) };
  const tagWidth = Math.max(6, String(o.tags - 1).length);
  const repoWidth = Math.max(5, String(o.repos - 1).length);
  const tagName = (i: number) => `t${String(i).padStart(tagWidth, '0')}`;
  const repoName = (i: number) => `bench/scale/r${String(i).padStart(repoWidth, '0')}`;
  const manifest = (annotations: Record<string, string>) => Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: CONFIG_TYPE, digest: config.digest, size: configData.length },
    layers: [{ mediaType: LAYER_TYPE, digest: lay.digest, size: layer.length }],
    annotations,
  }));
  const digests: string[] = [];
  const tagManifest = (i: number) => manifest({ 'org.opencontainers.image.ref.name': tagName(i) });
  return {
    config, layer: lay, tagName, repoName, tagManifest,
    tagDigest: (i) => (digests[i] ??= sha256(tagManifest(i))),
    repoManifest: (i) => manifest({ 'bench.repository': repoName(i) }),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A small deterministic PRNG, so that every registry is asked for the same random tags. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * Runs `op(i)` for i in [from, to) with `clients` concurrent workers; a failure is counted and the rest
 * goes on (more than `maxFailures` stops it). Prints a progress line every 10 s.
 */
export async function drive(label: string, from: number, to: number, clients: number, op: (i: number) => Promise<void>, r: { failed: number; errors: string[] }, log: (s: string) => void): Promise<number> {
  let next = from;
  let done = 0;
  const total = to - from;
  const maxFailures = Math.max(100, Math.floor(total / 100));
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    log(`    ${label}: ${fmtInt(done)}/${fmtInt(total)} (${fmtInt(done / s)}/s, ${s.toFixed(0)} s)`);
  }, 10_000);
  try {
    await Promise.all(Array.from({ length: Math.min(clients, total) }, async () => {
      for (let i = next++; i < to; i = next++) {
        try {
          await op(i);
        } catch (e) {
          r.failed++;
          if (r.errors.length < 5) r.errors.push(`${label} #${i}: ${e instanceof Error ? e.message : String(e)}`);
          if (r.failed > maxFailures) throw new Error(`${label}: more than ${maxFailures} failed requests; first: ${r.errors[0]}`);
        }
        done++;
      }
    }));
  } finally {
    clearInterval(ticker);
  }
  return (performance.now() - t0) / 1000;
}

async function populate(t: ScaleTarget, fx: ScaleFixture, o: ScaleOptions, tags: [number, number], repos: [number, number], r: ScaleResult, log: (s: string) => void): Promise<{ tagSecs: number; repoSecs: number }> {
  const ep = t.ep;
  const mounts = { mounted: 0, uploaded: 0 };
  if (tags[0] === 0) {
    // The shared blobs, pushed once, then mounted into every repository as a client pushing an image
    // whose layers the registry already has does.
    for (const b of [fx.config, fx.layer]) await pushMonolithic(ep, SCALE_BASE, b);
    for (const b of [fx.config, fx.layer]) mounts[await mountBlob(ep, SCALE_TAGS, SCALE_BASE, b)]++;
  }
  const tagSecs = await drive(`${t.name} tags`, tags[0], tags[1], o.clients, async (i) => {
    await putManifest(ep, SCALE_TAGS, fx.tagName(i), fx.tagManifest(i), MANIFEST_TYPE);
  }, r, log);
  const repoSecs = await drive(`${t.name} repositories`, repos[0], repos[1], o.clients, async (i) => {
    const name = fx.repoName(i);
    for (const b of [fx.config, fx.layer]) mounts[await mountBlob(ep, name, SCALE_BASE, b)]++;
    await putManifest(ep, name, 'latest', fx.repoManifest(i), MANIFEST_TYPE, mountScopes(name, SCALE_BASE));
  }, r, log);
  if (mounts.uploaded) r.notes.push(`${t.name}: ${mounts.uploaded} of ${mounts.uploaded + mounts.mounted} cross-repository mounts answered 202 (the blob was uploaded instead).`);
  return { tagSecs, repoSecs };
}

interface Probe {
  url: (i: number) => URL;
  method?: 'GET' | 'HEAD';
  headers: () => Promise<Record<string, string>>;
  /** index of a random existing tag per request; list operations ignore it */
  random?: boolean;
  /** throws unless the answer is right; returns how many items a list answered */
  check: (res: Res, i: number) => number | undefined;
}

/**
 * `warm` untimed requests, then up to `timed` timed ones; each phase stops early when its time budget
 * is spent (an operation that takes a second per request at full size would otherwise take many minutes),
 * though the timed one always gets at least MIN_TIMED requests.
 */
async function timeProbe(p: Probe, count: number, rng: () => number, warm: number, warmBudgetMs: number, timed: number): Promise<Latency> {
  const lat: number[] = [];
  let items: number | undefined;
  const one = async (): Promise<number> => {
    const i = p.random ? Math.floor(rng() * count) : 0;
    const u = p.url(i);
    const headers = await p.headers();
    const t0 = performance.now();
    const res = await request(p.method ?? 'GET', u, { headers });
    const ms = performance.now() - t0;
    const n = p.check(res, i);
    if (n !== undefined) items = n;
    return ms;
  };
  const w0 = performance.now();
  for (let k = 0; k < warm && performance.now() - w0 < warmBudgetMs; k++) await one();
  const t0 = performance.now();
  for (let k = 0; k < timed && (k < MIN_TIMED || performance.now() - t0 < OP_BUDGET_MS); k++) lat.push(await one());
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length, items };
}

function want(res: Res, u: URL, method: string, status: number): void {
  if (res.status !== status) throw new RequestError(method, u.pathname + u.search, res.status, res.body.toString().slice(0, 500), `expected ${status}`);
}

async function measure(t: ScaleTarget, fx: ScaleFixture, o: ScaleOptions, size: { repos: number; tags: number }, notes: string[]): Promise<Map<string, OpCell>> {
  const ep = t.ep;
  const out = new Map<string, OpCell>();
  const pull = () => ep.auth.headers([repoScope(SCALE_TAGS, 'pull')]);
  const accept = async () => ({ ...(await pull()), accept: MANIFEST_TYPE });
  const deep = Math.max(0, size.tags - 101);
  const deepWant = Math.min(100, size.tags - 1 - deep);
  const v2 = (p: string) => new URL(p, ep.url);
  const api = t.apiHeaders ? await t.apiHeaders() : undefined;
  const apiRepo = encodeURIComponent(SCALE_TAGS);
  // A substring of ten repository names (…r0004 of r00040–r00049) at either size.
  const q = fx.repoName(42).slice(0, -1).split('/').pop()!;
  const noted = new Set<string>();
  const noteOnce = (m: string) => {
    if (!noted.has(m)) notes.push(m);
    noted.add(m);
  };
  const listed = (key: string, expected: number, got: number) => {
    if (got !== expected) notes.push(`${t.name}, ${size.tags} tags / ${size.repos} repositories, ${SCALE_OPS.find((d) => d.key === key)!.label}: ${got} items answered where ${expected} were expected.`);
    return got;
  };
  const probes: Record<string, Probe> = {
    getTag: {
      url: (i) => v2(`/v2/${SCALE_TAGS}/manifests/${fx.tagName(i)}`), headers: accept, random: true,
      check: (res, i) => {
        want(res, v2(`/v2/${SCALE_TAGS}/manifests/${fx.tagName(i)}`), 'GET', 200);
        if (!res.body.equals(fx.tagManifest(i))) throw new Error(`GET manifest ${fx.tagName(i)}: body differs from what was pushed`);
        return undefined;
      },
    },
    headTag: {
      url: (i) => v2(`/v2/${SCALE_TAGS}/manifests/${fx.tagName(i)}`), method: 'HEAD', headers: accept, random: true,
      check: (res, i) => {
        want(res, v2(`/v2/${SCALE_TAGS}/manifests/${fx.tagName(i)}`), 'HEAD', 200);
        const d = res.headers['docker-content-digest'];
        if (d !== undefined && d !== fx.tagDigest(i)) throw new Error(`HEAD manifest ${fx.tagName(i)}: Docker-Content-Digest ${String(d)} != ${fx.tagDigest(i)}`);
        return undefined;
      },
    },
    getDigest: {
      url: (i) => v2(`/v2/${SCALE_TAGS}/manifests/${fx.tagDigest(i)}`), headers: accept, random: true,
      check: (res, i) => {
        want(res, v2(`/v2/${SCALE_TAGS}/manifests/${fx.tagDigest(i)}`), 'GET', 200);
        if (!res.body.equals(fx.tagManifest(i))) throw new Error(`GET manifest ${fx.tagDigest(i)}: body differs from what was pushed`);
        return undefined;
      },
    },
    tagsFirst: {
      url: () => v2(`/v2/${SCALE_TAGS}/tags/list?n=100`), headers: pull,
      check: (res) => {
        want(res, v2(`/v2/${SCALE_TAGS}/tags/list?n=100`), 'GET', 200);
        const tags = (JSON.parse(res.body.toString()) as { tags: string[] }).tags ?? [];
        // The spec orders tags lexically; a registry that does not is noted, not failed (Distribution 2.8 answers in storage order).
        if (tags[0] !== fx.tagName(0)) noteOnce(`${t.name}, ${size.tags} tags: \`tags/list?n=100\` starts with ${tags[0]}, not ${fx.tagName(0)} (not in lexical order).`);
        return tags.length;
      },
    },
    tagsDeep: {
      url: () => v2(`/v2/${SCALE_TAGS}/tags/list?n=100&last=${fx.tagName(deep)}`), headers: pull,
      check: (res) => {
        want(res, v2(`/v2/${SCALE_TAGS}/tags/list?n=100&last=${fx.tagName(deep)}`), 'GET', 200);
        const tags = (JSON.parse(res.body.toString()) as { tags: string[] }).tags ?? [];
        return tags.length;
      },
    },
    catalog: {
      url: () => v2('/v2/_catalog?n=100'), headers: () => ep.auth.headers([CATALOG_SCOPE]),
      check: (res) => {
        want(res, v2('/v2/_catalog?n=100'), 'GET', 200);
        return ((JSON.parse(res.body.toString()) as { repositories: string[] }).repositories ?? []).length;
      },
    },
  };
  if (api) {
    const apiUrl = (p: string) => new URL(`/api/v1${p}`, ep.url);
    const apiCheck = (p: string) => (res: Res) => {
      want(res, apiUrl(p), 'GET', 200);
      return ((JSON.parse(res.body.toString()) as { items: unknown[] }).items ?? []).length;
    };
    const first = `/repositories/${apiRepo}/tags?n=100`;
    const last = `/repositories/${apiRepo}/tags?n=100&last=${fx.tagName(deep)}`;
    const search = `/repositories?q=${q}&n=100`;
    probes.apiTagsFirst = { url: () => apiUrl(first), headers: async () => api, check: apiCheck(first) };
    probes.apiTagsDeep = { url: () => apiUrl(last), headers: async () => api, check: apiCheck(last) };
    probes.apiRepoSearch = { url: () => apiUrl(search), headers: async () => api, check: apiCheck(search) };
  }
  const expected: Record<string, number> = {
    tagsFirst: Math.min(100, size.tags), tagsDeep: deepWant, apiTagsFirst: Math.min(100, size.tags), apiTagsDeep: deepWant,
    ...(size.repos >= 100 ? { catalog: 100 } : {}), apiRepoSearch: Math.min(10, Math.max(0, size.repos - 40)),
  };
  // Two passes over every operation, the first untimed: right after a population the first requests
  // of a process pay for JIT compilation and cold caches (in Berth, the first pass' p50s came out up to
  // twice the second's), which would make the small size look dearer than the full one.
  for (const timed of [false, true]) {
    for (const d of SCALE_OPS) {
      const p = probes[d.key];
      if (!p || out.has(d.key)) continue;
      try {
        const rng = mulberry32(d.key.length * 7919 + size.tags + (timed ? 1 : 0));
        const l = timed
          ? await timeProbe(p, size.tags, rng, WARM_REQUESTS, 5_000, o.requests)
          : await timeProbe(p, size.tags, rng, o.requests, 10_000, 0);
        if (!timed) continue;
        if (l.items !== undefined && expected[d.key] !== undefined) listed(d.key, expected[d.key], l.items);
        out.set(d.key, l);
      } catch (e) {
        out.set(d.key, { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  return out;
}

/** Populates `t` to the small size, measures, populates to full size (timing the pushes), measures again. */
export async function runScale(t: ScaleTarget, fx: ScaleFixture, o: ScaleOptions, log: (s: string) => void): Promise<ScaleResult> {
  const small = { repos: Math.min(SMALL, o.repos), tags: Math.min(SMALL, o.tags) };
  const full = { repos: o.repos, tags: o.tags };
  const r: ScaleResult = {
    sizes: { small, full }, small: new Map(), full: new Map(), tagPuts: full.tags - small.tags, repoCount: full.repos - small.repos,
    populateSecs: 0, failed: 0, errors: [], notes: [],
  };
  const t0 = performance.now();
  log(`  ${t.name}: populating ${small.repos} repositories and ${small.tags} tags`);
  await populate(t, fx, o, [0, small.tags], [0, small.repos], r, log);
  let pop = (performance.now() - t0) / 1000;
  log(`  ${t.name}: measuring at small size (${o.requests} sequential requests per operation)`);
  r.small = await measure(t, fx, o, small, r.notes);
  if (full.tags > small.tags || full.repos > small.repos) {
    log(`  ${t.name}: populating to ${fmtInt(full.repos)} repositories and ${fmtInt(full.tags)} tags with ${o.clients} clients`);
    const t1 = performance.now();
    const { tagSecs, repoSecs } = await populate(t, fx, o, [small.tags, full.tags], [small.repos, full.repos], r, log);
    pop += (performance.now() - t1) / 1000;
    if (r.tagPuts > 0) r.tagPutRate = r.tagPuts / tagSecs;
    if (r.repoCount > 0) r.repoRate = r.repoCount / repoSecs;
    log(`  ${t.name}: ${r.tagPutRate ? `${fmtInt(r.tagPutRate)} manifest PUTs/s` : ''}${r.repoRate ? `, ${fmtInt(r.repoRate)} repositories/s` : ''}${r.failed ? `, ${r.failed} failed requests` : ''}`);
    log(`  ${t.name}: measuring at full size`);
    r.full = await measure(t, fx, o, full, r.notes);
  } else {
    r.full = r.small;
  }
  r.populateSecs = pop;
  return r;
}
