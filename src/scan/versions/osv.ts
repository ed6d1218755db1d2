// The parts of an OSV record (ossf/osv-schema docs/schema.md) that Berth reads. Unknown fields are allowed
// and ignored; database_specific and ecosystem_specific never change what a record affects.

export interface OsvSeverity {
  /** CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu, … */
  type: string;
  /** a CVSS vector string, or the ecosystem's own label */
  score: string;
}

/** One event of a range: exactly one of the fields is present. */
export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  /** SEMVER, ECOSYSTEM or GIT */
  type: string;
  repo?: string;
  events: OsvEvent[];
  database_specific?: Record<string, unknown>;
}

export interface OsvPackage {
  ecosystem: string;
  name: string;
  purl?: string;
}

export interface OsvAffected {
  package?: OsvPackage;
  severity?: OsvSeverity[];
  ranges?: OsvRange[];
  versions?: string[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvReference {
  type: string;
  url: string;
}

export interface OsvRecord {
  schema_version?: string;
  id: string;
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  upstream?: string[];
  related?: string[];
  summary?: string;
  details?: string;
  severity?: OsvSeverity[];
  affected?: OsvAffected[];
  references?: OsvReference[];
  database_specific?: Record<string, unknown>;
}
