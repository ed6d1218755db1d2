// What the readers of offline vulnerability sources hand out: OSV records (the one normalized model), each
// with the source it came from, and the counts `berth vulndb status` shows.
import type { OsvRecord } from '../versions/osv.js';

/** The kinds of source Berth reads; an item's `source` label starts with one of them. */
export type SourceKind = 'osv' | 'debian-tracker' | 'debian-dsa' | 'debian-dla' | 'alpine-secdb';

export interface SourceItem {
  /** `osv:<ecosystem or file>`, `debian-tracker`, `debian-dsa`, `debian-dla`, `alpine-secdb:<distroversion>/<repo>` */
  source: string;
  kind: SourceKind;
  record: OsvRecord;
  /** the file it was read from; `archive!entry` for an archive's entry */
  file: string;
}

export interface SourceCount {
  source: string;
  records: number;
  /** the greatest `modified` of its records, as the record spells it */
  newestModified?: string;
}

export interface VulnSourceStats {
  /** files (and archive entries) read as sources */
  files: number;
  records: number;
  /** per source label, sorted by label */
  sources: SourceCount[];
  /** files of a directory or archive that are no source (README, LICENSE, …) and were passed over */
  skipped: { file: string; reason: string }[];
  /** records left out under onInvalid: 'skip' */
  invalid: { file: string; message: string }[];
  /**
   * What a conversion left out on purpose, by reason, e.g. "debian release not in the codename map: foo",
   * "debian-dsa <end-of-life>". Not-affected markers are no loss and are counted here too.
   */
  dropped: Record<string, number>;
}

export interface ReadVulnSourceOptions {
  /** the largest single document (an OSV record, a secdb file) read whole; default 64 MiB */
  maxDocumentBytes?: number;
  /**
   * The largest input of one top-level package of the Debian tracker export, which the streaming parser holds
   * at once (the export itself is not held); default 64 MiB. Checked between reads, so a package may take up
   * to this plus one read chunk (64 KiB) before it is refused.
   */
  maxTrackerEntryBytes?: number;
  /** a malformed OSV record: stop with a VulnSourceError (default) or count it in stats.invalid and go on */
  onInvalid?: 'throw' | 'skip';
  signal?: AbortSignal;
}

/** A source that cannot be read: names the file (and archive entry) at fault. */
export class VulnSourceError extends Error {
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'VulnSourceError';
  }
}

/** What a converter needs to know about where its input came from. */
export interface SourceContext {
  /** the file name shown in items and errors */
  file: string;
  /** the input's time (file mtime or archive entry time): sources without dates use it as `modified` */
  time: Date;
}
