import { afterEach, describe, expect, it } from 'vitest';
import { drainAwareSleep, drainWorkUnderWay, isDraining, resetDrainForTests, holdStopFor } from '../../../extensions/pitwall/src/shared/delivery-drain.ts';
import { signWebhook } from '../../../src/domain/webhooks/sign-webhook.ts';
import { deliver, noTargetNote, wantsEvent, webhookBody, type AttemptRecord, type DeliveryDeps, type DeliveryPolicy } from '../../../extensions/pitwall/src/shared/webhook-delivery.ts';

const target = { subscription: 7, url: 'https://integrator.example/hooks', secret: 'whsec_unit' };
const event = { id: '5f0c8a4e-3d1b-4c55-9a3e-0d2f1b6c7a10', type: 'anomaly.detected', payload: { kind: 'speeding' } };
const policy: DeliveryPolicy = { maxAttempts: 4, timeoutMs: 1000, baseDelayMs: 100, maxDelayMs: 1000, deadlineMs: 60_000 };

/** A fake clock and integrator: answers in order, one per attempt; sleeping moves the clock. */
function fakeDeps(answers: number[], stopAfterAttempt = Infinity) {
  let now = 1_000_000;
  const records: AttemptRecord[] = [];
  const sent: { attempt: string | undefined; eventId: string | undefined }[] = [];
  const deps: DeliveryDeps = {
    post: async (_url, { headers }) => {
      sent.push({ attempt: headers['pitwall-delivery-attempt'], eventId: headers['pitwall-event-id'] });
      now += 10;
      return { status: answers[sent.length - 1] ?? 200, text: '' };
    },
    sleep: async (ms) => {
      now += ms;
    },
    random: () => 0.5,
    nowMs: () => now,
    record: async (row) => {
      records.push(row);
    },
    stopping: () => records.length >= stopAfterAttempt,
  };
  return { deps, records, sent };
}

describe('deliver', () => {
  it('retries 5xx answers and records each attempt with what was known then', async () => {
    const { deps, records, sent } = fakeDeps([503, 500, 200]);
    expect(await deliver(target, event, policy, deps)).toBe('delivered');
    expect(records.map((r) => [r.attempt, r.status_code, r.outcome])).toEqual([
      [1, 503, 'retrying'],
      [2, 500, 'retrying'],
      [3, 200, 'delivered'],
    ]);
    expect(sent.map((s) => s.eventId)).toEqual([event.id, event.id, event.id]);
  });

  it('gives up after the last attempt, and at once on an answer no retry can change', async () => {
    const exhausted = fakeDeps([503, 503, 503, 503, 200]);
    expect(await deliver(target, event, policy, exhausted.deps)).toBe('failed');
    expect(exhausted.records.map((r) => r.outcome)).toEqual(['retrying', 'retrying', 'retrying', 'failed']);
    const refused = fakeDeps([410]);
    expect(await deliver(target, event, policy, refused.deps)).toBe('failed');
    expect(refused.records.map((r) => [r.attempt, r.outcome, r.error])).toEqual([[1, 'failed', 'HTTP 410']]);
  });

  it('resumes a chain at the attempt after the last one recorded', async () => {
    const { deps, records, sent } = fakeDeps([503, 200]);
    expect(await deliver(target, event, policy, deps, 3)).toBe('delivered');
    expect(sent.map((s) => s.attempt)).toEqual(['3', '4']);
    expect(records.map((r) => [r.attempt, r.outcome])).toEqual([
      [3, 'retrying'],
      [4, 'delivered'],
    ]);
  });

  it('sends nothing to a target that cannot be used, and records one failed attempt saying why', async () => {
    const { deps, records, sent } = fakeDeps([200]);
    const unusable = { ...target, secret: '', unusable: 'the subscription\'s secret cannot be decrypted' };
    expect(await deliver(unusable, event, policy, deps, 2)).toBe('failed');
    expect(sent).toEqual([]);
    expect(records).toEqual([
      { subscription: 7, race_event: event.id, attempt: 2, status_code: null, outcome: 'failed', error: 'the subscription\'s secret cannot be decrypted', duration_ms: 0 },
    ]);
  });

  it('records no credential of the URL, even where a library or the receiver echoes it', async () => {
    const { deps, records } = fakeDeps([]);
    const withCredentials = { ...target, url: 'https://alice:hunter2@integrator.example/hooks?token=abc123' };
    deps.post = async (url) => {
      throw new Error(`connect failed for ${url} (user alice, password hunter2)`);
    };
    expect(await deliver(withCredentials, event, { ...policy, maxAttempts: 1 }, deps)).toBe('failed');
    expect(records[0]!.error).toBe('Error: connect failed for https://***@integrator.example/hooks?token=*** (user ***, password ***)');
  });

  it('reads the target again before each retry: re-pointed, switched off or deleted meanwhile, the old one gets no more', async () => {
    const urls: string[] = [];
    const signatures: string[] = [];
    const run = async (changes: (typeof target & { unusable?: string } | undefined)[], answers: number[]) => {
      const fake = fakeDeps(answers);
      const post = fake.deps.post;
      fake.deps.post = async (url, request) => {
        urls.push(url);
        signatures.push(request.headers['pitwall-signature']!);
        return post(url, request);
      };
      fake.deps.current = async () => changes.shift();
      return { end: await deliver(target, event, policy, fake.deps), records: fake.records };
    };
    const moved = { ...target, url: 'https://integrator.example/moved', secret: 'whsec_new' };
    const repointed = await run([moved], [503, 200]);
    expect(repointed.end).toBe('delivered');
    expect(urls).toEqual([target.url, moved.url]);
    // Each signed with the secret its subscription had then.
    const signedWith = (signature: string, secret: string) => signWebhook(webhookBody(event), secret, Number(/^t=(\d+),/.exec(signature)![1])) === signature;
    expect([signedWith(signatures[0]!, target.secret), signedWith(signatures[1]!, moved.secret)]).toEqual([true, true]);

    urls.length = 0;
    const off = await run([{ ...target, unusable: 'the subscription was switched off while its retries were under way' }], [503, 200]);
    expect(off.end).toBe('failed');
    expect(urls).toEqual([target.url]);
    expect(off.records.map((r) => [r.attempt, r.outcome, r.error])).toEqual([
      [1, 'retrying', 'HTTP 503'],
      [2, 'failed', 'the subscription was switched off while its retries were under way'],
    ]);

    urls.length = 0;
    const deleted = await run([undefined], [503, 200]);
    expect(deleted.end).toBe('failed');
    expect(urls).toEqual([target.url]);
    expect(deleted.records.map((r) => r.attempt)).toEqual([1]);
  });

  it('starts no attempt once the process is stopping, and says the chain was interrupted', async () => {
    const { deps, records, sent } = fakeDeps([503, 503, 200], 2);
    expect(await deliver(target, event, policy, deps)).toBe('interrupted');
    expect(sent).toHaveLength(2);
    expect(records.map((r) => r.outcome)).toEqual(['retrying', 'retrying']);
  });
});

describe('draining deliveries at shutdown', () => {
  afterEach(() => resetDrainForTests());

  it('wakes chains waiting for their next attempt and waits for those under way', async () => {
    const started = performance.now();
    const waiting = holdStopFor(drainAwareSleep(60_000));
    let answered = false;
    const underWay = holdStopFor(new Promise<void>((resolve) => setTimeout(() => ((answered = true), resolve()), 150)));
    expect(await drainWorkUnderWay(5_000)).toBe(0);
    await waiting;
    await underWay;
    expect(answered).toBe(true);
    expect(isDraining()).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    // Once stopping, a wait ends at once.
    const before = performance.now();
    await drainAwareSleep(60_000);
    expect(performance.now() - before).toBeLessThan(50);
  });

  it('waits for work that work under way starts meanwhile (a publication handing its events to Flow runs)', async () => {
    let flowRunEnded = false;
    const publication = holdStopFor(
      new Promise<void>((resolve) =>
        setTimeout(() => {
          // As Directus does: the Flow run starts as the publication ends, in its continuations.
          queueMicrotask(() => void holdStopFor(new Promise<void>((done) => setTimeout(() => ((flowRunEnded = true), done()), 200))));
          resolve();
        }, 50),
      ),
    );
    expect(await drainWorkUnderWay(5_000)).toBe(0);
    await publication;
    expect(flowRunEnded).toBe(true);
  });

  it('stops waiting when its time is up, and says how many deliveries were left', async () => {
    const stuck = holdStopFor(new Promise<void>((resolve) => setTimeout(resolve, 600)));
    const started = performance.now();
    expect(await drainWorkUnderWay(100)).toBe(1);
    expect(performance.now() - started).toBeLessThan(1_000);
    await stuck;
  });
});

describe('wantsEvent', () => {
  const wants = (event_types: unknown, active: boolean | null = true) => ({
    anomaly: wantsEvent({ active, event_types }, 'anomaly.detected'),
    results: wantsEvent({ active, event_types }, 'stage.result.computed'),
  });

  it('sends every type for an empty list or none, the listed types for a list, nothing when inactive', () => {
    for (const all of [null, undefined, [], '[]', 'null']) expect(wants(all), JSON.stringify(all)).toEqual({ anomaly: true, results: true });
    expect(wants(['anomaly.detected'])).toEqual({ anomaly: true, results: false });
    expect(wants('["stage.result.computed"]')).toEqual({ anomaly: false, results: true });
    expect(wants(['anomaly.detected'], false)).toEqual({ anomaly: false, results: false });
    expect(wants(null, null)).toEqual({ anomaly: true, results: true });
  });

  it('sends nothing for a stored value that is no list (stored before the guard): a filter gone wrong never sends all', () => {
    for (const odd of [{ a: 1 }, '{"a":1}', 42, '42', true, 'not json at all', '']) expect(wants(odd), JSON.stringify(odd)).toEqual({ anomaly: false, results: false });
  });

  it('reads a bare type name as that one type, stored as a JSON string or as its text', () => {
    expect(wants('anomaly.detected')).toEqual({ anomaly: true, results: false });
    expect(wants('"stage.result.computed"')).toEqual({ anomaly: false, results: true });
  });
});

describe('noTargetNote', () => {
  const row = (event_types: unknown, url = 'https://integrator.example/hooks') => ({ url, active: true, event_types });

  it('says why a step sends an event to no one: no active subscription, or none that wants the type', () => {
    expect(noTargetNote([], 'stage.result.computed')).toBe('nothing sent: no row of Webhook Subscriptions is active');
    expect(noTargetNote([row(['anomaly.detected']), row(['timing.crossing.recorded'])], 'stage.result.computed')).toBe(
      'nothing sent: none of the 2 active Webhook Subscriptions wants stage.result.computed events (their event types)',
    );
    expect(noTargetNote([row(null, '')], 'stage.result.computed')).toMatch(/^nothing sent: none of the 1 active/);
  });

  it('says nothing when one subscription wants it', () => {
    expect(noTargetNote([row(['anomaly.detected']), row([])], 'stage.result.computed')).toBeNull();
    expect(noTargetNote([row(['stage.result.computed'])], 'stage.result.computed')).toBeNull();
  });
});
