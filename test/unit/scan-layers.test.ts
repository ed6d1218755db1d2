// The layer walker: the final filesystem across layers (replacement, whiteouts, opaque directories, hard
// links), the layer that introduced each package, gzip/zstd/plain layers, and catalogers that fail or read
// only part of a large file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { normalizePath, walkLayers, LayerReadError, type LayerSource } from '../../src/scan/layers.js';
import type { Cataloger, FoundPackage } from '../../src/scan/catalog/types.js';
import { requireTool } from '../helpers/tools.js';

type TarEntry = { name: string; data?: string | Buffer; type?: 'file' | 'directory' | 'link' | 'symlink'; linkname?: string; mode?: number };

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => { chunks.push(c as Buffer); });
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    await new Promise<void>((resolve, reject) => pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.mode ?? 0o644, size: e.type === 'directory' || e.type === 'link' ? 0 : data.length }, data, (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function zstd(buf: Buffer): Buffer {
  requireTool('zstd');
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: buf, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

const layer = (digest: string, bytes: Buffer): LayerSource => ({
  digest, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', open: async () => Readable.from([bytes]),
});

/** Reads "name version" lines from any file named pkgs. */
const lines: Cataloger = {
  name: 'lines',
  wants: (p) => (p === 'pkgs' || p.endsWith('/pkgs') ? 'buffer' : false),
  async parse(_path, content) {
    assert.equal(content.kind, 'buffer');
    return content.data.toString().split('\n').filter(Boolean).map((l): FoundPackage => {
      const [name, version] = l.split(' ');
      return { type: 'npm', name: name!, version: version!, confidence: 'exact' };
    });
  },
};

test('paths are normalized and never climb out of the root', () => {
  assert.equal(normalizePath('./etc//os-release'), 'etc/os-release');
  assert.equal(normalizePath('/usr/lib/./x'), 'usr/lib/x');
  assert.equal(normalizePath('a/../../etc/passwd'), undefined);
  assert.equal(normalizePath('./'), '');
});

test('the final filesystem: replaced files, whiteouts, opaque directories, hard links; each package from the layer that introduced it', async () => {
  const l0 = gzipSync(await tarOf([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/pkgs', data: 'a 1\nb 1\n' },
    { name: 'opt/gone/pkgs', data: 'gone 1\n' },
    { name: 'srv/dir/pkgs', data: 'hidden 1\n' },
    { name: 'srv/link-target/pkgs', data: 'linked 1\n' },
    { name: 'etc/os-release', data: 'ID=test\n' },
  ]));
  const l1 = await tarOf([ // plain tar
    { name: './etc/pkgs', data: 'a 1\nb 2\nc 1\n' },
    { name: 'opt/.wh.gone' },
    { name: 'srv/dir/.wh..wh..opq' },
    { name: 'srv/dir/sub/pkgs', data: 'fresh 1\n' },
    { name: 'srv/copy/pkgs', type: 'link', linkname: 'srv/link-target/pkgs' },
  ]);
  const l2 = zstd(await tarOf([
    { name: 'etc/pkgs', data: 'a 1\nb 2\nc 1\nd 1\n' },
    { name: 'srv/link-target/.wh.pkgs' },
  ]));
  const r = await walkLayers([layer('sha256:l0', l0), layer('sha256:l1', l1), layer('sha256:l2', l2)], [lines], { collect: ['etc/os-release'] });
  const seen = r.packages.map((p) => `${p.path} ${p.name}@${p.version} from ${p.layerIndex}`).sort();
  assert.deepEqual(seen, [
    'etc/pkgs a@1 from 0', // unchanged in every later version of the file
    'etc/pkgs b@2 from 1', // b's version changed in layer 1
    'etc/pkgs c@1 from 1',
    'etc/pkgs d@1 from 2',
    'srv/copy/pkgs linked@1 from 1', // the link outlives its target's whiteout
    'srv/dir/sub/pkgs fresh@1 from 1', // the opaque directory hid only what lower layers had
  ]);
  assert.equal(r.files.get('etc/os-release')?.toString(), 'ID=test\n');
  assert.deepEqual(r.issues, []);
  assert.equal(r.layers.length, 3);
  assert.equal(r.layers[0]!.compressedBytes, l0.length);
  assert.equal(r.layers[2]!.compressedBytes, l2.length);
  assert.equal(r.layers[1]!.filesParsed, 2, 'the whiteouts and the opaque marker are not parsed');
});

test('a file deleted and written again starts its packages over; a directory replaced by a file takes its contents away', async () => {
  const l0 = gzipSync(await tarOf([{ name: 'a/pkgs', data: 'x 1\n' }, { name: 'b/c/pkgs', data: 'y 1\n' }]));
  const l1 = gzipSync(await tarOf([{ name: 'a/.wh.pkgs' }, { name: 'b', data: 'now a file' }]));
  const l2 = gzipSync(await tarOf([{ name: 'a/pkgs', data: 'x 1\n' }]));
  const r = await walkLayers([layer('sha256:0', l0), layer('sha256:1', l1), layer('sha256:2', l2)], [lines]);
  assert.deepEqual(r.packages.map((p) => `${p.path} ${p.name} ${p.layer}`), ['a/pkgs x sha256:2']);
});

test('a large file streams to the catalogers that stream it, teed; one that reads a little and one that fails leave the walk going', async () => {
  const big = Buffer.alloc(24 * 1024 * 1024, 7);
  big.write('MARK', 20 * 1024 * 1024);
  let readByPeeker = 0;
  const peeker: Cataloger = {
    name: 'peeker',
    wants: (p) => (p === 'bin/big' ? 'stream' : false),
    async parse(_p, c) {
      assert.equal(c.kind, 'stream');
      for await (const chunk of c.stream) { readByPeeker += (chunk as Buffer).length; break; }
      return [{ type: 'golang', name: 'peeked', version: 'v1.0.0', confidence: 'version-based' }];
    },
  };
  const scanner: Cataloger = {
    name: 'scanner',
    wants: (p) => (p === 'bin/big' ? 'stream' : false),
    async parse(_p, c) {
      assert.equal(c.kind, 'stream');
      let all = Buffer.alloc(0), at = -1, total = 0;
      for await (const chunk of c.stream) {
        const b = chunk as Buffer;
        all = Buffer.concat([all.subarray(-3), b]);
        if (at < 0 && all.includes('MARK')) at = total;
        total += b.length;
      }
      assert.ok(at > 0);
      assert.equal(total, big.length);
      return [{ type: 'golang', name: 'scanned', version: 'v2.0.0', confidence: 'version-based' }];
    },
  };
  const broken: Cataloger = {
    name: 'broken',
    wants: (p) => (p === 'bin/big' ? 'stream' : false),
    async parse() { throw new Error('cannot read this'); },
  };
  const l0 = gzipSync(await tarOf([{ name: 'bin/big', data: big, mode: 0o755 }, { name: 'pkgs', data: 'after 1\n' }]));
  const r = await walkLayers([layer('sha256:0', l0)], [peeker, scanner, broken, lines]);
  assert.deepEqual(r.packages.map((p) => `${p.cataloger}:${p.name}`).sort(), ['lines:after', 'peeker:peeked', 'scanner:scanned']);
  assert.ok(readByPeeker > 0 && readByPeeker < big.length);
  assert.deepEqual(r.issues.map((i) => `${i.cataloger} ${i.path} ${i.message}`), ['broken bin/big cannot read this']);
});

test('a buffer cataloger is told when a file is larger than it reads; the walk goes on', async () => {
  const small: Cataloger = { ...lines, name: 'small', maxBytes: 8 };
  const l0 = gzipSync(await tarOf([{ name: 'pkgs', data: 'toolong 1\n' }, { name: 'x/pkgs', data: 'ok 1\n' }]));
  const r = await walkLayers([layer('sha256:0', l0)], [small]);
  assert.deepEqual(r.packages.map((p) => p.name), ['ok']);
  assert.equal(r.issues.length, 1);
  assert.match(r.issues[0]!.message, /larger than the 8/);
});

test('a corrupt layer fails the walk naming the layer', async () => {
  const good = gzipSync(await tarOf([{ name: 'pkgs', data: 'a 1\n' }]));
  const bad = Buffer.concat([good.subarray(0, 20), Buffer.alloc(100, 0xff)]);
  await assert.rejects(walkLayers([layer('sha256:bad', bad)], [lines]), (e: unknown) => e instanceof LayerReadError && e.layer === 'sha256:bad');
  const badZstd = Buffer.concat([zstd(Buffer.alloc(4096, 1)).subarray(0, 12), Buffer.alloc(64, 0xaa)]);
  await assert.rejects(walkLayers([layer('sha256:z', badZstd)], [lines]), LayerReadError);
});

test('an aborted walk stops', async () => {
  const l0 = gzipSync(await tarOf([{ name: 'pkgs', data: 'a 1\n' }]));
  const ac = new AbortController();
  ac.abort(new Error('stopping'));
  await assert.rejects(walkLayers([layer('sha256:0', l0)], [lines], { signal: ac.signal }), /stopping/);
});
