// Debian release codenames → the OSV ecosystem Berth's catalog gives a Debian image (src/scan/image.ts:
// `Debian:<major of VERSION_ID>`). Releases from etch (4.0) on are named by their major alone; the older ones
// keep both parts, because woody (3.0) and sarge (3.1) share a major and must not mix their versions.
// sid (unstable) has no number: its entries become `Debian:unstable`, which no numbered release matches.
// An image's catalog says plain `Debian` for sid and testing today, so those entries match nothing yet but
// are kept for a matcher that learns to read them. Anything not listed (experimental, a future codename) is
// left out, and counted by the caller.
const CODENAMES: Readonly<Record<string, string>> = {
  buzz: '1.1',
  rex: '1.2',
  bo: '1.3',
  hamm: '2.0',
  slink: '2.1',
  potato: '2.2',
  woody: '3.0',
  sarge: '3.1',
  etch: '4',
  lenny: '5',
  squeeze: '6',
  wheezy: '7',
  jessie: '8',
  stretch: '9',
  buster: '10',
  bullseye: '11',
  bookworm: '12',
  trixie: '13',
  forky: '14',
  sid: 'unstable',
  unstable: 'unstable',
};

/** `Debian:12` for "bookworm", `Debian:unstable` for "sid"; undefined for a codename not in the map. */
export function debianEcosystem(codename: string): string | undefined {
  const version = Object.hasOwn(CODENAMES, codename) ? CODENAMES[codename] : undefined;
  return version === undefined ? undefined : `Debian:${version}`;
}

/** The tracker's urgency (and the DSA lists' note) as a level: "unimportant" is low; "**" marks a guess. */
export function debianSeverity(urgency: string | undefined): 'low' | 'medium' | 'high' | 'unknown' {
  const u = urgency?.replace(/\*+$/, '').trim().toLowerCase();
  if (u === 'low' || u === 'unimportant') return 'low';
  if (u === 'medium' || u === 'high') return u;
  return 'unknown';
}

const RANK = { unknown: 0, low: 1, medium: 2, high: 3 } as const;

/** The graver of two levels. */
export function graver<T extends keyof typeof RANK>(a: T, b: T): T {
  return RANK[b] > RANK[a] ? b : a;
}
