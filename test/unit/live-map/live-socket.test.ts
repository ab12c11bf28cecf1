import { describe, expect, it } from 'vitest';
import type { Fix } from '../../../extensions/pitwall/src/pitwall-live-map-panel/fleet.ts';
import { LiveSocket, type LinkState, type LiveListener, type SocketLike } from '../../../extensions/pitwall/src/pitwall-live-map-panel/live-socket.ts';
import { gatewayUrl, liveConfig } from '../../../extensions/pitwall/src/shared/live-config.ts';

const EVENT = '0b6c3a8e-6f6e-4d7a-9a43-3b1f8c2d9e10';
const TOPIC = `event:${EVENT}`;
const STAGE = '5f1d2c3e-4b5a-4c6d-8e7f-901a2b3c4d5e';

/** A WebSocket the test plays the gateway for: it records what the client sends. */
class FakeSocket implements SocketLike {
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  sent: Record<string, unknown>[] = [];
  closedWith: number | null = null;
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000): void {
    this.closedWith = code;
  }
  open(): void {
    this.onopen?.({});
  }
  receive(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code = 1006, reason = ''): void {
    this.onclose?.({ code, reason });
  }
}

const fix = (deviceId: string, ts: number): Fix => ({ deviceId, lat: 31, lon: 5, ts });

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: { run: () => void; ms: number }[] = [];
  const states: LinkState[] = [];
  const seen: string[] = [];
  const listener: LiveListener = {
    state: (s) => states.push(s),
    snapshot: (fixes, resumed) => seen.push(`snapshot${resumed ? ' resumed' : ''} ${fixes.map((f) => f.deviceId).join(',')}`),
    live: (f) => seen.push(`live ${f.deviceId}@${f.ts}`),
    playbackStarted: (info) => seen.push(`playback ${info.topic} ${info.speed}x`),
    playback: (f) => seen.push(`played ${f.deviceId}@${f.ts}`),
    playbackEnded: (end) => seen.push(`ended ${end.reason}${end.positions !== undefined ? ` ${end.positions}` : ''}${end.message ? ` ${end.message}` : ''}`),
    notice: (m) => seen.push(`notice ${m}`),
  };
  const client = new LiveSocket(
    {
      url: 'ws://race.example:8090/ws-live',
      event: EVENT,
      open: () => {
        const socket = new FakeSocket();
        sockets.push(socket);
        return socket;
      },
      random: () => 0.5,
      setTimer: (run, ms) => timers.push({ run, ms }),
      clearTimer: () => undefined,
    },
    listener,
  );
  const last = () => sockets[sockets.length - 1]!;
  /** Runs the reconnect the client scheduled, and returns its delay. */
  const elapse = () => {
    const timer = timers.shift()!;
    timer.run();
    return timer.ms;
  };
  return { client, sockets, timers, states, seen, last, elapse };
}

describe('the live map’s connection to the gateway', () => {
  it('subscribes to the event’s topic on open and takes the snapshot, then positions, keeping the last cursor', () => {
    const { client, last, seen, states } = harness();
    client.start();
    last().open();
    expect(last().sent).toEqual([{ type: 'subscribe', topic: TOPIC, id: 'live' }]);
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', cursor: '100-0', snapshot: [fix('A', 1), { deviceId: 'broken' }] });
    expect(client.cursor).toBe('100-0');
    last().receive({ type: 'position', topic: TOPIC, cursor: '101-0', data: fix('A', 2) });
    last().receive({ type: 'position', topic: 'event:someone-else', cursor: '102-0', data: fix('Z', 2) });
    expect(client.cursor).toBe('101-0');
    expect(seen).toEqual(['snapshot A', 'live A@2']);
    expect(states.map((s) => s.kind)).toEqual(['connecting', 'connected']);
  });

  it('reconnects with a growing backoff after a dropped connection, and resumes from the last cursor', () => {
    const { client, last, sockets, states, seen, elapse } = harness();
    client.start();
    last().open();
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', cursor: '100-0', snapshot: [] });
    last().receive({ type: 'position', topic: TOPIC, cursor: '105-3', data: fix('A', 5) });
    last().drop(1006);
    expect(states.at(-1)).toEqual({ kind: 'reconnecting', attempt: 1, inMs: 1000, reason: 'connection lost (code 1006)' });
    // The gateway cannot be reached: every failed attempt waits twice as long.
    expect(elapse()).toBe(1000);
    last().drop(1006);
    expect(elapse()).toBe(2000);
    last().drop(1006);
    expect(states.at(-1)).toMatchObject({ kind: 'reconnecting', attempt: 3, inMs: 4000, reason: 'cannot connect to the gateway' });
    expect(elapse()).toBe(4000);
    last().open();
    expect(last().sent).toEqual([{ type: 'subscribe', topic: TOPIC, id: 'live', since: '105-3' }]);
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', snapshot: [], resumed: true });
    last().receive({ type: 'position', topic: TOPIC, cursor: '106-0', data: fix('A', 6) });
    expect(seen.slice(-2)).toEqual(['snapshot resumed ', 'live A@6']);
    expect(states.at(-1)).toEqual({ kind: 'connected' });
    // A good connection starts the backoff over; a drain (1001) is retried at once.
    last().drop(1001, 'gateway restarting');
    expect(states.at(-1)).toMatchObject({ inMs: 1000, reason: 'the gateway is restarting' });
    expect(sockets).toHaveLength(4);
    // So is a connection whose sign-in expired, after a few failed attempts: it resumes where it was.
    elapse();
    last().drop(1006);
    elapse();
    last().open();
    last().drop(4001, 'credentials expired or revoked: connect again with fresh ones');
    expect(states.at(-1)).toMatchObject({ inMs: 1000, reason: 'the sign-in this map connected with has expired' });
    elapse();
    last().open();
    expect(last().sent).toEqual([{ type: 'subscribe', topic: TOPIC, id: 'live', since: '106-0' }]);
  });

  it('shows why the gateway ended the live topic on its own (access withdrawn)', () => {
    const { client, last, states, seen, elapse } = harness();
    client.start();
    last().open();
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', cursor: '100-0', snapshot: [] });
    last().receive({ type: 'unsubscribed', topic: 'event:other', code: 'forbidden', message: 'not this one' });
    expect(states.at(-1)).toEqual({ kind: 'connected' });
    last().receive({ type: 'unsubscribed', topic: TOPIC, code: 'forbidden', message: 'you may no longer read event e1' });
    expect(states.at(-1)).toEqual({ kind: 'error', code: 'forbidden', message: 'you may no longer read event e1' });
    expect(seen.at(-1)).toBe('snapshot ');
    // Asked again later, for a snapshot: the permission may have been given back.
    elapse();
    expect(last().sent.at(-1)).toEqual({ type: 'subscribe', topic: TOPIC, id: 'live' });
  });

  it('subscribes afresh, without since, when the gateway no longer keeps what was missed', () => {
    const { client, last, elapse, states } = harness();
    client.start();
    last().open();
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', cursor: '100-0', snapshot: [] });
    last().drop(4008, 'slow consumer');
    expect(states.at(-1)).toMatchObject({ reason: 'the gateway dropped this map as too slow to keep up' });
    elapse();
    last().open();
    last().receive({ type: 'error', code: 'resume-gap', message: 'positions after 100-0 are no longer kept', id: 'live' });
    expect(client.cursor).toBeNull();
    expect(last().sent).toEqual([
      { type: 'subscribe', topic: TOPIC, id: 'live', since: '100-0' },
      { type: 'subscribe', topic: TOPIC, id: 'live' },
    ]);
  });

  it('shows the gateway’s refusal of the subscription, and asks again later only when Directus was unavailable', () => {
    const { client, last, states, timers } = harness();
    client.start();
    last().open();
    last().receive({ type: 'error', code: 'forbidden', message: `you may not read event ${EVENT}`, id: 'live' });
    expect(states.at(-1)).toEqual({ kind: 'error', code: 'forbidden', message: `you may not read event ${EVENT}` });
    expect(timers).toHaveLength(0);
    last().receive({ type: 'error', code: 'unavailable', message: 'cannot check access to the event now', id: 'live' });
    expect(timers).toHaveLength(1);
    timers.shift()!.run();
    expect(last().sent.at(-1)).toEqual({ type: 'subscribe', topic: TOPIC, id: 'live' });
    // Rate-limited: asked again, not sooner than the gateway said.
    last().receive({ type: 'error', code: 'rate-limited', message: 'too many subscribe and playback requests', retryAfterMs: 45_000, id: 'live' });
    expect(timers.map((t) => t.ms)).toEqual([45_000]);
    timers.shift()!.run();
    expect(last().sent.at(-1)).toEqual({ type: 'subscribe', topic: TOPIC, id: 'live' });
  });

  it('takes a subscribe it let go of before the answer, answered cancelled, as no failure', () => {
    const { client, last, states, timers } = harness();
    client.start();
    last().open();
    const before = states.length;
    last().receive({ type: 'error', code: 'cancelled', topic: 'event:00000000-0000-4000-8000-000000000001', message: 'unsubscribed from event:00000000-0000-4000-8000-000000000001 before the subscription was ready', id: 'live' });
    expect(states.slice(before)).toEqual([]);
    expect(timers).toHaveLength(0);
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', cursor: '1-0', snapshot: [] });
    expect(states.at(-1)).toEqual({ kind: 'connected' });
  });

  it('plays a stage back on its own topic beside the live subscription, and Stop leaves that topic', () => {
    const { client, last, seen } = harness();
    client.start();
    expect(client.play(STAGE, 10)).toBe(false);
    last().open();
    last().receive({ type: 'subscribed', topic: TOPIC, id: 'live', cursor: '1-0', snapshot: [] });
    expect(client.play(STAGE, 10)).toBe(true);
    expect(last().sent.at(-1)).toEqual({ type: 'playback', event: EVENT, stage: STAGE, speed: 10, id: 'playback' });
    last().receive({ type: 'playback', topic: 'playback:p1', event: EVENT, stage: STAGE, speed: 10, from: 1000, to: 9000, id: 'playback' });
    last().receive({ type: 'position', topic: 'playback:p1', cursor: '1000-1', data: fix('A', 1000) });
    last().receive({ type: 'position', topic: TOPIC, cursor: '2-0', data: fix('A', 50_000) });
    // Playback positions never move the live cursor (a resume would ask for "1000-1" otherwise).
    expect(client.cursor).toBe('2-0');
    client.stopPlayback();
    expect(last().sent.at(-1)).toEqual({ type: 'unsubscribe', topic: 'playback:p1' });
    last().receive({ type: 'position', topic: 'playback:p1', cursor: '1001-2', data: fix('A', 1001) });
    expect(seen).toEqual(['snapshot ', 'playback playback:p1 10x', 'played A@1000', 'live A@50000', 'ended stopped']);
  });

  it('returns to live when the playback ends, fails, or its connection goes', () => {
    const { client, last, seen } = harness();
    client.start();
    last().open();
    client.play(STAGE, 50);
    last().receive({ type: 'playback', topic: 'playback:p1', stage: STAGE, speed: 50, from: 0, to: 1, id: 'playback' });
    last().receive({ type: 'playback-ended', topic: 'playback:p1', positions: 240 });
    client.play(STAGE, 5);
    last().receive({ type: 'error', code: 'bad-request', message: 'stage: nothing stored to play back', id: 'playback' });
    client.play(STAGE, 5);
    last().receive({ type: 'playback', topic: 'playback:p2', stage: STAGE, speed: 5, from: 0, to: 1, id: 'playback' });
    last().receive({ type: 'error', code: 'internal', message: 'playback playback:p2 stopped: boom' });
    client.play(STAGE, 5);
    last().receive({ type: 'playback', topic: 'playback:p3', stage: STAGE, speed: 5, from: 0, to: 1, id: 'playback' });
    last().drop(1006);
    expect(client.playing).toBe(false);
    expect(seen.filter((s) => s.startsWith('ended'))).toEqual([
      'ended ended 240',
      'ended failed bad-request: stage: nothing stored to play back',
      'ended failed playback playback:p2 stopped: boom',
      'ended disconnected',
    ]);
  });

  it('leaves a playback that was stopped before the gateway answered', () => {
    const { client, last, seen } = harness();
    client.start();
    last().open();
    client.play(STAGE, 10);
    client.stopPlayback();
    last().receive({ type: 'playback', topic: 'playback:p9', stage: STAGE, speed: 10, from: 0, to: 1, id: 'playback' });
    expect(last().sent.at(-1)).toEqual({ type: 'unsubscribe', topic: 'playback:p9' });
    expect(seen.some((s) => s.startsWith('playback '))).toBe(false);
  });

  it('stops for good: no reconnect after stop', () => {
    const { client, last, timers, states } = harness();
    client.start();
    last().open();
    client.stop();
    expect(last().closedWith).toBe(1000);
    expect(timers).toHaveLength(0);
    expect(states.at(-1)).toEqual({ kind: 'stopped' });
  });
});

describe('where the live map finds the gateway', () => {
  it('reads PITWALL_LIVE_URL: a ws:// or wss:// URL, else nothing and why', () => {
    expect(liveConfig({})).toEqual({ url: null });
    expect(liveConfig({ PITWALL_LIVE_URL: '  ' })).toEqual({ url: null });
    expect(liveConfig({ PITWALL_LIVE_URL: 'wss://live.race.example/ws-live' })).toEqual({ url: 'wss://live.race.example/ws-live' });
    expect(liveConfig({ PITWALL_LIVE_URL: 'https://live.race.example/ws-live' })).toEqual({ url: null, problem: 'PITWALL_LIVE_URL must start with ws:// or wss://, not https://' });
    expect(liveConfig({ PITWALL_LIVE_URL: 'live.race.example' }).problem).toMatch(/^PITWALL_LIVE_URL is not a URL/);
  });

  it('takes the panel’s option first, then Directus’s, then port 8090 of the page’s host name', () => {
    const page = { protocol: 'https:', hostname: 'race.example' };
    expect(gatewayUrl(' ws://10.0.0.5:9000/ws-live ', 'wss://env.example/ws-live', page)).toBe('ws://10.0.0.5:9000/ws-live');
    expect(gatewayUrl('', 'wss://env.example/ws-live', page)).toBe('wss://env.example/ws-live');
    expect(gatewayUrl(null, null, page)).toBe('wss://race.example:8090/ws-live');
    expect(gatewayUrl(undefined, null, { protocol: 'http:', hostname: 'localhost' })).toBe('ws://localhost:8090/ws-live');
    expect(gatewayUrl(undefined, null, { protocol: 'http:', hostname: '[::1]' })).toBe('ws://[::1]:8090/ws-live');
  });

  it('names this machine as the page does where Directus’s env names it otherwise: the session cookie goes to that name only', () => {
    const configured = 'ws://localhost:8190/ws-live';
    expect(gatewayUrl(undefined, configured, { protocol: 'http:', hostname: '127.0.0.1' })).toBe('ws://127.0.0.1:8190/ws-live');
    expect(gatewayUrl(undefined, configured, { protocol: 'http:', hostname: '[::1]' })).toBe('ws://[::1]:8190/ws-live');
    expect(gatewayUrl(undefined, 'ws://127.0.0.1:8190/ws-live', { protocol: 'http:', hostname: 'localhost' })).toBe('ws://localhost:8190/ws-live');
    // Another machine, or a page from elsewhere, keeps the URL as configured; so does the panel's own option.
    expect(gatewayUrl(undefined, configured, { protocol: 'http:', hostname: 'race.example' })).toBe(configured);
    expect(gatewayUrl(undefined, 'ws://10.0.0.5:8190/ws-live', { protocol: 'http:', hostname: '127.0.0.1' })).toBe('ws://10.0.0.5:8190/ws-live');
    expect(gatewayUrl(configured, null, { protocol: 'http:', hostname: '127.0.0.1' })).toBe(configured);
  });
});
