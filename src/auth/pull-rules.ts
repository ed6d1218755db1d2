// Content rules on pulls: the second access decision, taken once a manifest's digest is known. Features
// (vulnerability scanning, signature trust) plug in here from the composition root: a fact source tells
// what it knows about a manifest, a pull rule allows or refuses from those facts. policy.ts runs the rules;
// nothing on the request path knows which features exist.
import type { Principal } from './principal.js';

/** What the fact sources know about one manifest, merged (each source writes under its own keys). */
export type ManifestFacts = Record<string, unknown>;

/** A repository with the manifest a pull resolved to, and the facts about it. */
export interface ManifestResource {
  type: 'repository'; name: string; digest: string; facts: ManifestFacts;
  /** whether the caller may push to the repository (rules that exempt pushers read it; false unless a source asked) */
  callerMayPush: boolean;
}

/** Facts about a manifest that a feature records (scan results, verified signatures, …). */
export interface ManifestFactSource {
  /** names the source in refusals when it fails */
  name: string;
  facts(name: string, digest: string): Promise<ManifestFacts>;
  /** whether, given its facts, a rule will ask callerMayPush (an authorization lookup, skipped otherwise) */
  asksCallerPush?(facts: ManifestFacts): boolean;
}

/** A refusal may carry details for the client's error (the blocking vulnerability ids, say). */
export type PullVerdict = { allow: true } | { allow: false; reason: string; detail?: Record<string, unknown> };

/**
 * A rule a manifest pull must pass. It decides from the resource's facts (and the principal, for rules
 * that make exceptions themselves): policy.ts exempts nobody, system administrators neither.
 */
export interface PullRule {
  name: string;
  evaluate(principal: Principal, resource: ManifestResource): PullVerdict;
}

export const allow = (): PullVerdict => ({ allow: true });
export const refuse = (reason: string, detail?: Record<string, unknown>): PullVerdict => ({ allow: false, reason, ...(detail ? { detail } : {}) });

/** The registered sources and rules; fixed once the composition root has built them. */
export class PullRules {
  readonly sources: readonly ManifestFactSource[];
  readonly rules: readonly PullRule[];
  /** whether a pull needs the second decision at all: without rules it costs one property read */
  readonly active: boolean;

  constructor(opts: { sources?: ManifestFactSource[]; rules?: PullRule[] } = {}) {
    this.sources = Object.freeze([...(opts.sources ?? [])]);
    this.rules = Object.freeze([...(opts.rules ?? [])]);
    this.active = this.rules.length > 0;
  }

  static readonly NONE = new PullRules();
}
