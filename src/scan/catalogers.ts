// The catalogers a scan runs, and the distribution detection it uses.
import { apkCataloger } from './catalog/apk.js';
import { dpkgCataloger } from './catalog/dpkg.js';
import { goBinaryCataloger } from './catalog/go-binary.js';
import { javaCataloger } from './catalog/java.js';
import { npmCataloger } from './catalog/npm.js';
import { distributionFrom } from './catalog/os-release.js';
import { pythonCataloger } from './catalog/python.js';
import { rpmCataloger } from './catalog/rpm.js';
import type { Cataloger } from './catalog/types.js';
import type { Distro } from './image.js';

/** Names the catalogers' generation: a catalogue made by an older one is read again when asked for. */
export const SCANNER = 'berth-catalog/1';

export function defaultCatalogers(): Cataloger[] {
  return [dpkgCataloger, apkCataloger, rpmCataloger, npmCataloger, pythonCataloger, goBinaryCataloger, javaCataloger];
}

export function detectDistro(files: Map<string, Buffer>): Distro | undefined {
  const d = distributionFrom(files);
  return d?.id ? { ...d, id: d.id } : undefined;
}
