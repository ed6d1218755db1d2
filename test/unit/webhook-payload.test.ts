import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_TYPES, type BerthEvent, type EventType } from '../../src/events/event.js';
import { distributionAction, renderPayload } from '../../src/events/webhook-payload.js';

const DIGEST = 'sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf';
const CHILD1 = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
const CHILD2 = 'sha256:2222222222222222222222222222222222222222222222222222222222222222';

function event(over: Partial<BerthEvent> = {}): BerthEvent {
  return {
    id: '320678d8-ca14-430f-8bb6-4ca139cd83f7',
    type: 'manifest.pushed',
    timestamp: '2025-03-09T14:44:26.402Z',
    actor: { name: 'alice', source: 'local' },
    request: { id: 'req-1', addr: '192.168.64.11:42961', host: 'registry.example.com', method: 'PUT', useragent: 'docker/27.0' },
    target: {
      repository: 'team/app', digest: DIGEST, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 708, tag: 'latest',
      url: `https://registry.example.com/v2/team/app/manifests/${DIGEST}`,
    },
    source: { addr: 'registry.example.com', instanceID: 'a53db899-3b4b-4a62-a067-8dd013beaca4' },
    ...over,
  };
}

const parse = (body: Buffer) => JSON.parse(body.toString('utf8'));

describe('renderPayload: Distribution envelope', () => {
  test('v1: media type, envelope and every field of a manifest push, with Distribution names', () => {
    const { contentType, body } = renderPayload('distribution-v1', [event()]);
    assert.equal(contentType, 'application/vnd.docker.distribution.events.v1+json');
    assert.ok(Buffer.isBuffer(body));
    const doc = parse(body);
    assert.deepEqual(Object.keys(doc), ['events']);
    assert.equal(doc.events.length, 1);
    const e = doc.events[0];
    assert.deepEqual(Object.keys(e), ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
    assert.equal(e.id, '320678d8-ca14-430f-8bb6-4ca139cd83f7');
    assert.equal(e.timestamp, '2025-03-09T14:44:26.402Z');
    assert.equal(e.action, 'push');
    // 2.x Descriptor order (mediaType, size, digest), then the event's own target fields
    assert.deepEqual(Object.keys(e.target), ['mediaType', 'size', 'digest', 'length', 'repository', 'url', 'tag']);
    assert.equal(e.target.size, 708);
    assert.equal(e.target.length, 708);
    assert.equal(e.target.digest, DIGEST);
    assert.equal(e.target.repository, 'team/app');
    assert.equal(e.target.tag, 'latest');
    assert.deepEqual(e.request, { id: 'req-1', addr: '192.168.64.11:42961', host: 'registry.example.com', method: 'PUT', useragent: 'docker/27.0' });
    assert.deepEqual(e.actor, { name: 'alice' }, 'only name: Berth-internal actor.source is not part of the envelope');
    assert.deepEqual(e.source, { addr: 'registry.example.com', instanceID: 'a53db899-3b4b-4a62-a067-8dd013beaca4' });
  });

  test('v2: the 3.x media type and the OCI descriptor key order', () => {
    const { contentType, body } = renderPayload('distribution-v2', [event()]);
    assert.equal(contentType, 'application/vnd.docker.distribution.events.v2+json');
    const t = parse(body).events[0].target;
    assert.deepEqual(Object.keys(t), ['mediaType', 'digest', 'size', 'length', 'repository', 'url', 'tag']);
  });

  test('deletes: v1 carries only what is known; v2 always has mediaType, digest and size like 3.x', () => {
    const tagDeleted = event({ type: 'tag.deleted', request: { ...event().request, method: 'DELETE' }, target: { repository: 'team/app', tag: 'old' } });
    const v1 = parse(renderPayload('distribution-v1', [tagDeleted]).body).events[0];
    assert.equal(v1.action, 'delete');
    assert.deepEqual(v1.target, { repository: 'team/app', tag: 'old' });
    const v2 = parse(renderPayload('distribution-v2', [tagDeleted]).body).events[0];
    assert.deepEqual(v2.target, { mediaType: '', digest: '', size: 0, repository: 'team/app', tag: 'old' });

    const manifestDeleted = event({ type: 'manifest.deleted', target: { repository: 'team/app', digest: DIGEST } });
    assert.deepEqual(parse(renderPayload('distribution-v1', [manifestDeleted]).body).events[0].target, { digest: DIGEST, repository: 'team/app' });

    // A whole repository: a delete naming only the repository.
    const repositoryDeleted = event({ type: 'repository.deleted', target: { repository: 'team/app' } });
    const rv1 = parse(renderPayload('distribution-v1', [repositoryDeleted]).body).events[0];
    assert.equal(rv1.action, 'delete');
    assert.deepEqual(rv1.target, { repository: 'team/app' });
    assert.deepEqual(parse(renderPayload('distribution-v2', [repositoryDeleted]).body).events[0].target, { mediaType: '', digest: '', size: 0, repository: 'team/app' });
  });

  test('every Berth type maps to a Distribution action, or keeps its own name when Distribution has none', () => {
    const expected: Record<EventType, string> = {
      'manifest.pushed': 'push', 'manifest.pulled': 'pull', 'manifest.deleted': 'delete',
      'tag.updated': 'push', 'tag.deleted': 'delete',
      'blob.mounted': 'mount', 'blob.deleted': 'delete', 'repository.deleted': 'delete',
      'login.failed': 'login.failed', 'scan.completed': 'scan.completed', 'quota.exceeded': 'quota.exceeded',
      'webhook.ping': 'webhook.ping',
      'organization.member.added': 'organization.member.added', 'organization.member.removed': 'organization.member.removed',
      'organization.member.role_changed': 'organization.member.role_changed',
      'team.created': 'team.created', 'team.deleted': 'team.deleted', 'team.member.added': 'team.member.added', 'team.member.removed': 'team.member.removed',
      'repository.role.granted': 'repository.role.granted', 'repository.role.revoked': 'repository.role.revoked',
    };
    for (const type of EVENT_TYPES) {
      assert.equal(distributionAction(type), expected[type], type);
      const doc = parse(renderPayload('distribution-v1', [event({ type })]).body);
      assert.equal(doc.events[0].action, expected[type], type);
    }
  });

  test('tag.updated is a push with the tag set', () => {
    const e = parse(renderPayload('distribution-v1', [event({ type: 'tag.updated', target: { repository: 'team/app', digest: DIGEST, tag: 'v2' } })]).body).events[0];
    assert.equal(e.action, 'push');
    assert.equal(e.target.tag, 'v2');
    assert.equal(e.target.digest, DIGEST);
  });

  test('blob.mounted is a mount with fromRepository', () => {
    const e = parse(renderPayload('distribution-v1', [event({
      type: 'blob.mounted',
      target: { repository: 'team/app', digest: DIGEST, size: 1234, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', from: 'base/alpine' },
    })]).body).events[0];
    assert.equal(e.action, 'mount');
    assert.equal(e.target.fromRepository, 'base/alpine');
    assert.equal(e.target.length, 1234);
    assert.equal(e.target.from, undefined, 'Berth field names do not leak into the envelope');
  });

  test('index references are rendered as descriptors, as Distribution does with includereferences', () => {
    const idx = event({ target: { repository: 'team/app', digest: DIGEST, mediaType: 'application/vnd.oci.image.index.v1+json', size: 500, references: [CHILD1, CHILD2] } });
    for (const format of ['distribution-v1', 'distribution-v2'] as const) {
      const t = parse(renderPayload(format, [idx]).body).events[0].target;
      assert.deepEqual(t.references, [{ digest: CHILD1 }, { digest: CHILD2 }], format);
    }
    assert.equal(parse(renderPayload('distribution-v1', [event()]).body).events[0].target.references, undefined);
  });

  test('anonymous actor is {} and optional request fields are omitted', () => {
    const e = parse(renderPayload('distribution-v1', [event({
      actor: { name: '', source: 'anonymous' },
      request: { id: 'r', addr: '', host: '', method: 'GET', useragent: '' },
    })]).body).events[0];
    assert.deepEqual(e.actor, {});
    assert.deepEqual(e.request, { id: 'r', method: 'GET', useragent: '' });
  });

  test('Berth-only events carry their data; Distribution actions do not', () => {
    const login = parse(renderPayload('distribution-v1', [event({ type: 'login.failed', target: undefined, data: { user: 'bob', reason: 'bad password' } })]).body).events[0];
    assert.equal(login.action, 'login.failed');
    assert.deepEqual(login.data, { user: 'bob', reason: 'bad password' });
    assert.deepEqual(login.target, {});
    const push = parse(renderPayload('distribution-v1', [event({ data: { extra: 1 } })]).body).events[0];
    assert.equal(push.data, undefined);
  });

  test('several events go into one envelope, in order', () => {
    const events = [event({ id: 'a' }), event({ id: 'b', type: 'manifest.pulled' }), event({ id: 'c', type: 'blob.deleted' })];
    const doc = parse(renderPayload('distribution-v2', events).body);
    assert.deepEqual(doc.events.map((e: { id: string; action: string }) => [e.id, e.action]), [['a', 'push'], ['b', 'pull'], ['c', 'delete']]);
  });

  test('no events is a caller error', () => {
    assert.throws(() => renderPayload('distribution-v1', []), RangeError);
    assert.throws(() => renderPayload('cloudevents', []), RangeError);
  });
});

describe('renderPayload: CloudEvents', () => {
  test('structured mode with the required and optional attributes', () => {
    const { contentType, body } = renderPayload('cloudevents', [event()]);
    assert.equal(contentType, 'application/cloudevents+json');
    const ce = parse(body);
    assert.equal(ce.specversion, '1.0');
    assert.equal(ce.id, '320678d8-ca14-430f-8bb6-4ca139cd83f7');
    assert.equal(ce.source, '/berth/a53db899-3b4b-4a62-a067-8dd013beaca4');
    assert.equal(ce.type, 'io.berth.manifest.pushed');
    assert.equal(ce.time, '2025-03-09T14:44:26.402Z');
    assert.equal(ce.subject, 'team/app:latest');
    assert.equal(ce.datacontenttype, 'application/json');
    assert.deepEqual(ce.data.target, event().target);
    assert.deepEqual(ce.data.actor, { name: 'alice', source: 'local' });
    assert.deepEqual(ce.data.request, event().request);
    assert.deepEqual(ce.data.source, event().source);
    assert.equal(ce.data_base64, undefined);
    // attribute names must be lower-case a-z0-9 (CloudEvents naming rule)
    for (const k of Object.keys(ce)) assert.match(k, /^[a-z0-9]+$/);
  });

  test('subject: repository@digest without a tag, repository alone, absent without a target', () => {
    assert.equal(parse(renderPayload('cloudevents', [event({ target: { repository: 'r', digest: DIGEST } })]).body).subject, `r@${DIGEST}`);
    assert.equal(parse(renderPayload('cloudevents', [event({ target: { repository: 'r' } })]).body).subject, 'r');
    const login = parse(renderPayload('cloudevents', [event({ type: 'login.failed', target: undefined, data: { user: 'bob' } })]).body);
    assert.equal('subject' in login, false);
    assert.equal(login.type, 'io.berth.login.failed');
    assert.deepEqual(login.data.data, { user: 'bob' });
  });

  test('source is a URI-reference that stays valid for odd instance ids', () => {
    const ce = parse(renderPayload('cloudevents', [event({ source: { addr: '', instanceID: 'node 1/a' } })]).body);
    assert.equal(ce.source, '/berth/node%201%2Fa');
    assert.doesNotThrow(() => new URL(ce.source, 'http://x'));
  });

  test('one event per delivery: several events throw', () => {
    assert.throws(() => renderPayload('cloudevents', [event({ id: 'a' }), event({ id: 'b' })]), /exactly one event/);
  });

  test('unknown format is refused', () => {
    assert.throws(() => renderPayload('xml' as never, [event()]), TypeError);
  });
});
