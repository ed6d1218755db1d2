// Webhook bodies: Berth events rendered as CNCF Distribution's notification envelope (so existing
// receivers written for Distribution keep working unchanged) or as CloudEvents 1.0.
//
// Distribution's envelope is `{ "events": [ ... ] }`; each event carries id, timestamp, action (push,
// pull, mount, delete), target, request, actor and source. Two generations exist (checked against
// distribution/distribution: notifications/event.go and docs/content/about/notifications.md):
//  - 'distribution-v1' — registry 2.x, Content-Type application/vnd.docker.distribution.events.v1+json.
//    The target embeds Distribution's own Descriptor, every field omitempty, keys in the order
//    mediaType, size, digest. Deletes therefore carry only what is known (digest, repository, tag).
//  - 'distribution-v2' — registry 3.x sets EventsMediaType = application/vnd.docker.distribution.events.v2+json
//    (and its docs say so). The envelope and field names are unchanged; what changed is that the target
//    embeds the OCI image-spec v1.1 descriptor, whose mediaType, digest and size have no omitempty: they
//    are always present (as "" / 0 when unknown, e.g. on deletes), keys in the order mediaType, digest, size.
// A whole repository deleted (repository.deleted) is a delete whose target names only the repository, as
// Distribution 3.x sends for its repository deletes.
// Both then add length (= size, omitted when 0), repository, fromRepository (mounts), url, tag and, when
// Distribution is configured with `notifications.events.includereferences`, references (descriptors of
// an index's children). Berth knows only the children's digests, so each reference is `{ "digest" }`.
//
// Berth types without a Distribution action (login.failed, scan.completed, quota.exceeded, webhook.ping,
// and the access family: organization.member.added …) are rendered with the Berth type itself as action
// (e.g. "login.failed"): receivers that switch on push/pull/delete/mount skip them, and they carry
// Berth's type-specific `data` as an extra member (Distribution's decoders ignore unknown members).
//
// 'cloudevents' — CloudEvents 1.0 JSON format, structured content mode (application/cloudevents+json),
// one event per delivery. Given several events it throws rather than using the JSON batch format
// (application/cloudevents-batch+json): the spec says the batch format MUST NOT be used when only the
// JSON format is indicated, and a plain CloudEvents receiver does not expect an array.
import type { BerthEvent, EventType } from './event.js';

export type PayloadFormat = 'distribution-v1' | 'distribution-v2' | 'cloudevents';

export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['distribution-v1', 'distribution-v2', 'cloudevents'];

export const DISTRIBUTION_V1_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';
export const DISTRIBUTION_V2_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json';

/** Prefix of CloudEvents `type`s: reverse-DNS, then the Berth type (io.berth.manifest.pushed). */
export const CLOUDEVENTS_TYPE_PREFIX = 'io.berth.';

/** Distribution's action for a Berth event type; Berth-only types keep their own name (see above). */
export function distributionAction(type: EventType): string {
  switch (type) {
    case 'manifest.pushed': case 'tag.updated': return 'push';
    case 'manifest.pulled': return 'pull';
    case 'manifest.deleted': case 'tag.deleted': case 'blob.deleted': case 'repository.deleted': return 'delete';
    case 'blob.mounted': return 'mount';
    case 'login.failed': case 'scan.completed': case 'quota.exceeded': case 'webhook.ping': return type;
    case 'organization.member.added': case 'organization.member.removed': case 'organization.member.role_changed':
    case 'team.created': case 'team.deleted': case 'team.member.added': case 'team.member.removed':
    case 'repository.role.granted': case 'repository.role.revoked':
      return type;
  }
}

const DISTRIBUTION_ACTIONS = new Set(['push', 'pull', 'delete', 'mount']);

function distributionTarget(e: BerthEvent, v2: boolean): Record<string, unknown> {
  const t = e.target;
  const out: Record<string, unknown> = {};
  // Key order and presence follow Go's encoding of the embedded descriptor of each generation.
  if (v2) {
    out.mediaType = t?.mediaType ?? '';
    out.digest = t?.digest ?? '';
    out.size = t?.size ?? 0;
  } else {
    if (t?.mediaType) out.mediaType = t.mediaType;
    if (t?.size) out.size = t.size;
    if (t?.digest) out.digest = t.digest;
  }
  if (!t) return out;
  if (t.size) out.length = t.size;
  if (t.repository) out.repository = t.repository;
  if (t.from) out.fromRepository = t.from;
  if (t.url) out.url = t.url;
  if (t.tag) out.tag = t.tag;
  if (t.references?.length) out.references = t.references.map((digest) => ({ digest }));
  return out;
}

function distributionEvent(e: BerthEvent, v2: boolean): Record<string, unknown> {
  const action = distributionAction(e.type);
  const request: Record<string, unknown> = { id: e.request.id };
  if (e.request.addr) request.addr = e.request.addr;
  if (e.request.host) request.host = e.request.host;
  request.method = e.request.method;
  request.useragent = e.request.useragent;
  const source: Record<string, unknown> = {};
  if (e.source.addr) source.addr = e.source.addr;
  if (e.source.instanceID) source.instanceID = e.source.instanceID;
  const out: Record<string, unknown> = {
    id: e.id,
    timestamp: e.timestamp,
    action,
    target: distributionTarget(e, v2),
    request,
    actor: e.actor.name ? { name: e.actor.name } : {}, // anonymous: {} as Distribution sends it
    source,
  };
  if (!DISTRIBUTION_ACTIONS.has(action) && e.data) out.data = e.data;
  return out;
}

/** subject: repository[:tag|@digest], the tag preferred when both are known. */
function cloudEventSubject(e: BerthEvent): string | undefined {
  const t = e.target;
  if (!t?.repository) return undefined;
  if (t.tag) return `${t.repository}:${t.tag}`;
  if (t.digest) return `${t.repository}@${t.digest}`;
  return t.repository;
}

function cloudEvent(e: BerthEvent): Record<string, unknown> {
  const ce: Record<string, unknown> = {
    specversion: '1.0',
    id: e.id, // source + id is unique per event and stable across redeliveries, as the spec asks
    // A URI-reference naming the producing Berth instance (the id is stable per instance).
    source: e.source.instanceID ? `/berth/${encodeURIComponent(e.source.instanceID)}` : '/berth',
    type: `${CLOUDEVENTS_TYPE_PREFIX}${e.type}`,
    time: e.timestamp,
  };
  const subject = cloudEventSubject(e);
  if (subject) ce.subject = subject;
  ce.datacontenttype = 'application/json';
  const data: Record<string, unknown> = {};
  if (e.target) data.target = e.target;
  data.actor = e.actor;
  data.request = e.request;
  data.source = e.source; // the public address too: the CloudEvents `source` names only the instance
  if (e.data) data.data = e.data;
  ce.data = data;
  return ce;
}

export function renderPayload(format: PayloadFormat, events: BerthEvent[]): { contentType: string; body: Buffer } {
  if (events.length === 0) throw new RangeError('renderPayload needs at least one event');
  switch (format) {
    case 'distribution-v1':
    case 'distribution-v2': {
      const v2 = format === 'distribution-v2';
      const body = JSON.stringify({ events: events.map((e) => distributionEvent(e, v2)) });
      return { contentType: v2 ? DISTRIBUTION_V2_MEDIA_TYPE : DISTRIBUTION_V1_MEDIA_TYPE, body: Buffer.from(body, 'utf8') };
    }
    case 'cloudevents': {
      if (events.length !== 1) throw new RangeError('cloudevents deliveries carry exactly one event (structured mode, no batches)');
      return { contentType: CLOUDEVENTS_MEDIA_TYPE, body: Buffer.from(JSON.stringify(cloudEvent(events[0]!)), 'utf8') };
    }
    default:
      throw new TypeError(`unknown payload format: ${String(format)}`);
  }
}
