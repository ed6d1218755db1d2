// CVSS base scores and their qualitative severity, for OSV `severity` entries.
// v3.0/v3.1: the base score equations of the CVSS v3.1 specification (§7.1, Roundup of Appendix A; v3.0
// rounds up plainly). v4.0: the MacroVector method of the CVSS v4.0 specification (§8): the score of the
// vector's MacroVector, lowered by the mean of its proportional severity distances to the next lower
// MacroVectors. Threat and Environmental metrics given in a v4 vector are honoured (v4 scores them together).
import type { OsvSeverity } from './osv.js';
import { MACROVECTOR_SCORES, MAX_COMPOSED, MAX_SEVERITY } from './cvss4-tables.js';

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'none';

export interface CvssScore {
  version: '3.0' | '3.1' | '4.0';
  score: number;
  severity: Severity;
}

/** The qualitative rating scale shared by v3.x and v4.0. */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'none';
}

/** "CVSS:x/K:V/…" into its version and metrics; undefined on duplicates or a malformed part. */
function parseVector(vector: string): { version: string; metrics: Map<string, string> } | undefined {
  const parts = vector.trim().split('/');
  const head = /^CVSS:([0-9.]+)$/.exec(parts[0] ?? '');
  if (!head) return undefined;
  const metrics = new Map<string, string>();
  for (const part of parts.slice(1)) {
    const colon = part.indexOf(':');
    if (colon <= 0 || colon === part.length - 1) return undefined;
    const key = part.slice(0, colon);
    if (metrics.has(key)) return undefined;
    metrics.set(key, part.slice(colon + 1));
  }
  return { version: head[1], metrics };
}

// ---- v3.x ----

const V3_WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;
const V3_PR = { U: { N: 0.85, L: 0.62, H: 0.27 }, C: { N: 0.85, L: 0.68, H: 0.5 } } as const;
const V3_OPTIONAL: Record<string, readonly string[]> = {
  E: ['X', 'U', 'P', 'F', 'H'], RL: ['X', 'O', 'T', 'W', 'U'], RC: ['X', 'U', 'R', 'C'],
  CR: ['X', 'L', 'M', 'H'], IR: ['X', 'L', 'M', 'H'], AR: ['X', 'L', 'M', 'H'],
  MAV: ['X', 'N', 'A', 'L', 'P'], MAC: ['X', 'L', 'H'], MPR: ['X', 'N', 'L', 'H'], MUI: ['X', 'N', 'R'],
  MS: ['X', 'U', 'C'], MC: ['X', 'N', 'L', 'H'], MI: ['X', 'N', 'L', 'H'], MA: ['X', 'N', 'L', 'H'],
};

/** CVSS v3.1 Appendix A: the smallest one-decimal number >= x, robust to floating-point error. */
function roundUp31(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

const roundUp30 = (x: number): number => Math.ceil(x * 10) / 10;

function pick<T extends Record<string, number>>(table: T, value: string | undefined): number | undefined {
  return value !== undefined && Object.hasOwn(table, value) ? table[value as keyof T] : undefined;
}

/** The v3.0/v3.1 base score of a vector, or undefined if it is not a valid v3 vector. */
export function cvss3BaseScore(vector: string): { version: '3.0' | '3.1'; score: number } | undefined {
  const parsed = parseVector(vector);
  if (!parsed || (parsed.version !== '3.0' && parsed.version !== '3.1')) return undefined;
  const m = parsed.metrics;
  const scope = m.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const av = pick(V3_WEIGHTS.AV, m.get('AV'));
  const ac = pick(V3_WEIGHTS.AC, m.get('AC'));
  const pr = pick(V3_PR[scope], m.get('PR'));
  const ui = pick(V3_WEIGHTS.UI, m.get('UI'));
  const c = pick(V3_WEIGHTS.CIA, m.get('C'));
  const i = pick(V3_WEIGHTS.CIA, m.get('I'));
  const a = pick(V3_WEIGHTS.CIA, m.get('A'));
  if (av === undefined || ac === undefined || pr === undefined || ui === undefined || c === undefined || i === undefined || a === undefined) return undefined;
  for (const [key, value] of m) {
    if (['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'].includes(key)) continue;
    if (!V3_OPTIONAL[key]?.includes(value)) return undefined;
  }
  const roundUp = parsed.version === '3.1' ? roundUp31 : roundUp30;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = scope === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15);
  const exploitability = 8.22 * av * ac * pr * ui;
  let score = 0;
  if (impact > 0) {
    score = scope === 'U' ? roundUp(Math.min(impact + exploitability, 10)) : roundUp(Math.min(1.08 * (impact + exploitability), 10));
  }
  return { version: parsed.version, score };
}

// ---- v4.0 ----

const V4_VALUES: Record<string, readonly string[]> = {
  AV: ['N', 'A', 'L', 'P'], AC: ['L', 'H'], AT: ['N', 'P'], PR: ['N', 'L', 'H'], UI: ['N', 'P', 'A'],
  VC: ['H', 'L', 'N'], VI: ['H', 'L', 'N'], VA: ['H', 'L', 'N'], SC: ['H', 'L', 'N'], SI: ['H', 'L', 'N'], SA: ['H', 'L', 'N'],
  E: ['X', 'A', 'P', 'U'], CR: ['X', 'H', 'M', 'L'], IR: ['X', 'H', 'M', 'L'], AR: ['X', 'H', 'M', 'L'],
  MAV: ['X', 'N', 'A', 'L', 'P'], MAC: ['X', 'L', 'H'], MAT: ['X', 'N', 'P'], MPR: ['X', 'N', 'L', 'H'], MUI: ['X', 'N', 'P', 'A'],
  MVC: ['X', 'H', 'L', 'N'], MVI: ['X', 'H', 'L', 'N'], MVA: ['X', 'H', 'L', 'N'],
  MSC: ['X', 'H', 'L', 'N'], MSI: ['X', 'S', 'H', 'L', 'N'], MSA: ['X', 'S', 'H', 'L', 'N'],
  // Supplemental metrics: allowed, never scored
  S: ['X', 'N', 'P'], AU: ['X', 'N', 'Y'], R: ['X', 'A', 'U', 'I'], V: ['X', 'D', 'C'],
  RE: ['X', 'L', 'M', 'H'], U: ['X', 'Clear', 'Green', 'Amber', 'Red'],
};
const V4_BASE = ['AV', 'AC', 'AT', 'PR', 'UI', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA'];

// Severity levels per metric (§8.2: distances in steps of 0.1 from the most severe value).
const LEVELS: Record<string, Record<string, number>> = {
  AV: { N: 0, A: 0.1, L: 0.2, P: 0.3 }, PR: { N: 0, L: 0.1, H: 0.2 }, UI: { N: 0, P: 0.1, A: 0.2 },
  AC: { L: 0, H: 0.1 }, AT: { N: 0, P: 0.1 },
  VC: { H: 0, L: 0.1, N: 0.2 }, VI: { H: 0, L: 0.1, N: 0.2 }, VA: { H: 0, L: 0.1, N: 0.2 },
  SC: { H: 0.1, L: 0.2, N: 0.3 }, SI: { S: 0, H: 0.1, L: 0.2, N: 0.3 }, SA: { S: 0, H: 0.1, L: 0.2, N: 0.3 },
  CR: { H: 0, M: 0.1, L: 0.2 }, IR: { H: 0, M: 0.1, L: 0.2 }, AR: { H: 0, M: 0.1, L: 0.2 },
};

/** The v4.0 score (CVSS-B, -BT, -BE or -BTE, as the vector's metrics say), or undefined if not valid v4. */
export function cvss4Score(vector: string): number | undefined {
  const parsed = parseVector(vector);
  if (!parsed || parsed.version !== '4.0') return undefined;
  const given = parsed.metrics;
  for (const [key, value] of given) if (!V4_VALUES[key]?.includes(value)) return undefined;
  if (!V4_BASE.every((k) => given.has(k))) return undefined;

  // Effective values: a Modified metric overrides its base metric; E defaults to A, CR/IR/AR to H.
  const m = (key: string): string => {
    const modified = given.get(`M${key}`);
    if (modified !== undefined && modified !== 'X' && V4_BASE.includes(key)) return modified;
    const v = given.get(key) ?? 'X';
    if (v !== 'X') return v;
    if (key === 'E') return 'A';
    if (key === 'CR' || key === 'IR' || key === 'AR') return 'H';
    return v;
  };

  if (['VC', 'VI', 'VA', 'SC', 'SI', 'SA'].every((k) => m(k) === 'N')) return 0;

  const eq1 = m('AV') === 'N' && m('PR') === 'N' && m('UI') === 'N' ? 0
    : (m('AV') === 'N' || m('PR') === 'N' || m('UI') === 'N') && m('AV') !== 'P' ? 1 : 2;
  const eq2 = m('AC') === 'L' && m('AT') === 'N' ? 0 : 1;
  const eq3 = m('VC') === 'H' && m('VI') === 'H' ? 0 : m('VC') === 'H' || m('VI') === 'H' || m('VA') === 'H' ? 1 : 2;
  const eq4 = m('SI') === 'S' || m('SA') === 'S' ? 0 : m('SC') === 'H' || m('SI') === 'H' || m('SA') === 'H' ? 1 : 2;
  const eq5 = m('E') === 'A' ? 0 : m('E') === 'P' ? 1 : 2;
  const eq6 = (m('CR') === 'H' && m('VC') === 'H') || (m('IR') === 'H' && m('VI') === 'H') || (m('AR') === 'H' && m('VA') === 'H') ? 0 : 1;

  const score = (e: number[]): number => MACROVECTOR_SCORES[e.join('')] ?? Number.NaN;
  const value = score([eq1, eq2, eq3, eq4, eq5, eq6]);

  // The next lower MacroVector along each EQ (EQ3 and EQ6 move together; from 0,0 either may step).
  const lower1 = score([eq1 + 1, eq2, eq3, eq4, eq5, eq6]);
  const lower2 = score([eq1, eq2 + 1, eq3, eq4, eq5, eq6]);
  let lower36: number;
  if (eq3 === 0 && eq6 === 0) lower36 = Math.max(score([eq1, eq2, eq3, eq4, eq5, 1]), score([eq1, eq2, 1, eq4, eq5, eq6]));
  else if (eq6 === 1 && eq3 < 2) lower36 = score([eq1, eq2, eq3 + 1, eq4, eq5, eq6]);
  else if (eq3 === 1 && eq6 === 0) lower36 = score([eq1, eq2, eq3, eq4, eq5, 1]);
  else lower36 = Number.NaN;
  const lower4 = score([eq1, eq2, eq3, eq4 + 1, eq5, eq6]);
  const lower5 = score([eq1, eq2, eq3, eq4, eq5 + 1, eq6]);

  // The first highest-severity vector of this MacroVector that the scored vector is not above.
  const level = (key: string, v: string): number => LEVELS[key][v];
  const metricOf = (composed: string, key: string): string => new RegExp(`(?:^|/)${key}:([A-Z])/`).exec(composed)![1];
  const keys = ['AV', 'PR', 'UI', 'AC', 'AT', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA', 'CR', 'IR', 'AR'];
  let distance: Record<string, number> | undefined;
  for (const a of MAX_COMPOSED.eq1[eq1]) for (const b of MAX_COMPOSED.eq2[eq2]) for (const c of MAX_COMPOSED.eq3eq6[eq3][eq6]) {
    for (const d of MAX_COMPOSED.eq4[eq4]) {
      if (distance) break;
      const max = a + b + c + d;
      const ds: Record<string, number> = {};
      for (const k of keys) ds[k] = level(k, m(k)) - level(k, metricOf(max, k));
      if (Object.values(ds).every((x) => x >= 0)) distance = ds;
    }
  }
  if (!distance) return undefined; // cannot happen for a valid vector
  const d = distance;
  const current1 = d.AV + d.PR + d.UI;
  const current2 = d.AC + d.AT;
  const current36 = d.VC + d.VI + d.VA + d.CR + d.IR + d.AR;
  const current4 = d.SC + d.SI + d.SA;

  const STEP = 0.1;
  const parts: number[] = [];
  const proportional = (lower: number, current: number, depth: number): void => {
    if (Number.isNaN(lower)) return;
    parts.push((value - lower) * (current / (depth * STEP)));
  };
  proportional(lower1, current1, MAX_SEVERITY.eq1[eq1]);
  proportional(lower2, current2, MAX_SEVERITY.eq2[eq2]);
  proportional(lower36, current36, MAX_SEVERITY.eq3eq6[eq3][eq6]);
  proportional(lower4, current4, MAX_SEVERITY.eq4[eq4]);
  if (!Number.isNaN(lower5)) parts.push(0); // EQ5 (Exploit Maturity) has no distance inside its MacroVector
  const mean = parts.length === 0 ? 0 : parts.reduce((x, y) => x + y, 0) / parts.length;
  const result = Math.min(10, Math.max(0, value - mean));
  return Math.round((result + 1e-6) * 10) / 10;
}

/** Score and severity of a CVSS v3.x or v4.0 vector; undefined for anything else (v2, labels, garbage). */
export function cvssSeverity(vector: string): CvssScore | undefined {
  const v3 = cvss3BaseScore(vector);
  if (v3) return { ...v3, severity: severityOfScore(v3.score) };
  const v4 = cvss4Score(vector);
  if (v4 !== undefined) return { version: '4.0', score: v4, severity: severityOfScore(v4) };
  return undefined;
}

/**
 * The severity of an OSV record or affected entry: from its CVSS_V4 vector when it has one that scores,
 * otherwise from its CVSS_V3 vector; undefined when neither is there.
 */
export function osvCvssSeverity(severities: readonly OsvSeverity[] | undefined): CvssScore | undefined {
  for (const type of ['CVSS_V4', 'CVSS_V3']) {
    for (const s of severities ?? []) {
      if (s.type !== type) continue;
      const scored = cvssSeverity(s.score);
      if (scored) return scored;
    }
  }
  return undefined;
}
