import { describe, expect, it } from 'vitest';
import { catalogue } from '../../../src/domain/events/catalogue.ts';
import { subscriptionGuard, subscriptionProblems } from '../../../extensions/pitwall/src/shared/subscription-guard.ts';

const KNOWN = Object.keys(catalogue).join(', ');
const fields = (payload: Record<string, unknown>) => subscriptionProblems(payload).map((p) => p.field);

describe('subscriptionProblems', () => {
  it('takes a list of catalogue types, an empty list or null (every type), and a payload without the fields', () => {
    expect(subscriptionProblems({ event_types: ['anomaly.detected', 'stage.result.computed'], url: 'https://integrator.example/pitwall' })).toEqual([]);
    expect(subscriptionProblems({ event_types: [], url: 'http://10.20.0.7:8080/hook?token=x' })).toEqual([]);
    expect(subscriptionProblems({ event_types: null })).toEqual([]);
    expect(subscriptionProblems({ name: 'Renamed', active: false })).toEqual([]);
    // Directus may hand a json field over as its text (an import).
    expect(subscriptionProblems({ event_types: '["replay.completed"]' })).toEqual([]);
    expect(subscriptionProblems({ event_types: 'null' })).toEqual([]);
  });

  it('refuses an empty secret, which would sign nothing, and takes any other text', () => {
    for (const secret of ['', '   ']) expect(subscriptionProblems({ secret })).toEqual([{ field: 'secret', message: 'expected the text the deliveries are signed with, not an empty one' }]);
    expect(subscriptionProblems({ secret: 42 })).toEqual([{ field: 'secret', message: 'expected the text the deliveries are signed with, not a number' }]);
    expect(subscriptionProblems({ secret: ['s'] })).toEqual([{ field: 'secret', message: 'expected the text the deliveries are signed with, not an array' }]);
    expect(subscriptionProblems({ secret: 'whsec_3f9a' })).toEqual([]);
  });

  it('refuses event types that are no list of names: they would have filtered nothing', () => {
    for (const eventTypes of ['anomaly.detected', { a: 1 }, 42, true, '{"a":1}', [1], [['anomaly.detected']], '']) {
      const problems = subscriptionProblems({ event_types: eventTypes });
      expect(problems, JSON.stringify(eventTypes)).toHaveLength(1);
      expect(problems[0]!.field).toBe('event_types');
      expect(problems[0]!.message).toMatch(/^expected a list of event types \(empty or null for every type\), not /);
    }
    expect(subscriptionProblems({ event_types: 'anomaly.detected' })[0]!.message).toBe('expected a list of event types (empty or null for every type), not "anomaly.detected"');
  });

  it('refuses a type the catalogue does not have, naming it and the known types', () => {
    expect(subscriptionProblems({ event_types: ['anomaly.detected', 'anomaly.detetced'] })).toEqual([
      { field: 'event_types', message: `unknown event type "anomaly.detetced"; the types are ${KNOWN}` },
    ]);
    expect(subscriptionProblems({ event_types: '["a", "b"]' })[0]!.message).toBe(`unknown event types "a", "b"; the types are ${KNOWN}`);
  });

  it('refuses a URL that is not absolute http or https, without echoing it', () => {
    expect(subscriptionProblems({ url: 'ftp://x' })).toEqual([{ field: 'url', message: 'expected an absolute http: or https: URL, not ftp:' }]);
    expect(subscriptionProblems({ url: 'integrator.example/hook?token=s3cret' })).toEqual([{ field: 'url', message: 'expected an absolute http: or https: URL' }]);
    for (const url of ['', '/relative', 'javascript:alert(1)', 'file:///etc/passwd', 42]) expect(fields({ url }), String(url)).toEqual(['url']);
    // Absent or null is Directus's to answer: the field is required.
    expect(fields({ url: null })).toEqual([]);
  });

  it('names every field that is wrong', () => {
    expect(fields({ event_types: 'anomaly.detected', url: 'ftp://x' })).toEqual(['event_types', 'url']);
  });
});

/** A knex stand-in for writePermission's one query: no policy grants anything. */
const noPermissions = () => {
  const builder = { join: () => builder, where: () => builder, andWhere: () => builder, first: async () => undefined };
  return builder;
};

describe('subscriptionGuard', () => {
  it('answers 400 with the issues, for a create and an update, and passes what is right', async () => {
    const guard = subscriptionGuard(noPermissions);
    const admin = { admin: true, role: 'admin', user: 'u0' } as never;
    await expect(guard({ event_types: 'anomaly.detected' }, 'create', admin)).rejects.toMatchObject({
      status: 400,
      extensions: { issues: [{ code: 'custom', path: ['event_types'] }] },
    });
    await expect(guard({ url: 'ftp://x' }, 'update', null)).rejects.toMatchObject({ status: 400, extensions: { issues: [{ path: ['url'] }] } });
    const good = { name: 'A', event_types: ['anomaly.detected'] };
    expect(await guard(good, 'update', admin)).toBe(good);
  });

  it('leaves a caller who may not write to Directus, which answers 403', async () => {
    const guard = subscriptionGuard(noPermissions);
    const timekeeper = { role: 'race-control', roles: [], user: 'u1', admin: false } as never;
    const bad = { event_types: 'anomaly.detected', url: 'ftp://x' };
    expect(await guard(bad, 'create', timekeeper)).toBe(bad);
  });
});
