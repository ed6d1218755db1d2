// Berth's version, from its package.json (two levels up from src/lib and from dist/lib alike).
import { readFileSync } from 'node:fs';

export const BERTH_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
