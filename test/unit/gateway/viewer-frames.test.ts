import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { sharedFrame, Viewer } from '../../../src/gateway/viewer.ts';

/** A real ws server and client on loopback: the server side wrapped in a Viewer, the client keeping what it reads. */
async function pair(options: { deflate?: boolean; maxBufferedBytes?: number; maxQueued?: number } = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: options.deflate ?? false });
  await new Promise((resolve) => server.once('listening', resolve));
  const connected = new Promise<Viewer>((resolve) =>
    server.once('connection', (ws) => resolve(new Viewer(ws, { kind: 'bearer', token: 't' }, 'user', { maxBufferedBytes: options.maxBufferedBytes ?? 1 << 20, maxQueued: options.maxQueued ?? 10 }, () => undefined))),
  );
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`, { perMessageDeflate: options.deflate ?? false });
  const received: { text: string; binary: boolean }[] = [];
  client.on('message', (data, binary) => received.push({ text: data.toString(), binary }));
  const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)));
  await new Promise((resolve) => client.once('open', resolve));
  const viewer = await connected;
  servers.push(server);
  return { viewer, client, received, closed };
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    for (const ws of server.clients) ws.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
});

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('frames shared by many viewers', () => {
  // Each length class of the WebSocket header: 7-bit, 16-bit and 64-bit, and text that is not ASCII.
  const texts = ['{"a":1}', JSON.stringify({ crew: 'Ekström / Bergkvist', pad: 'x'.repeat(200) }), JSON.stringify({ pad: 'é'.repeat(40_000) }), '', 'x'.repeat(125), 'x'.repeat(126), 'x'.repeat(65_535), 'x'.repeat(65_536)];

  it('reach a ws client as the same text messages, in order with messages sent one by one', async () => {
    const { viewer, received } = await pair();
    viewer.send(sharedFrame(texts[0]!));
    viewer.sendMessage({ type: 'subscribed' });
    for (const text of texts.slice(1)) viewer.send(sharedFrame(text));
    await until(() => received.length === texts.length + 1);
    expect(received).toEqual([texts[0], '{"type":"subscribed"}', ...texts.slice(1)].map((text) => ({ text, binary: false })));
  });

  it('are sent through ws when the connection negotiated compression, so ws keeps its own order', async () => {
    const { viewer, received } = await pair({ deflate: true });
    expect(viewer.socket.extensions).toContain('permessage-deflate');
    viewer.sendMessage({ n: 1 });
    viewer.send(sharedFrame('{"n":2}'));
    viewer.sendMessage({ n: 3 });
    await until(() => received.length === 3);
    expect(received.map((m) => m.text)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it('wait until the end of the turn, then leave together', async () => {
    const { viewer, received } = await pair();
    const frame = sharedFrame('{"type":"position"}');
    for (let i = 0; i < 3; i++) viewer.send(frame);
    // Still in this turn: all three are waiting in the corked socket, and count as unsent for the slow-viewer limit.
    expect(viewer.socket.bufferedAmount).toBe(3 * frame.wire.length);
    await new Promise((resolve) => setImmediate(resolve));
    expect(viewer.socket.bufferedAmount).toBe(0);
    await until(() => received.length === 3);
    expect(received).toHaveLength(3);
  });

  it('close a viewer whose unsent data passed the limit, and send nothing after the close', async () => {
    const { viewer, received, closed } = await pair({ maxBufferedBytes: 1000 });
    const frame = sharedFrame(JSON.stringify({ pad: 'x'.repeat(600) }));
    expect(viewer.send(frame)).toBe(true);
    expect(viewer.send(frame)).toBe(true);
    // Over the limit within the turn: closed with 4008 instead of buffering more.
    expect(viewer.send(frame)).toBe(false);
    expect(viewer.closed).toBe(true);
    expect(viewer.send(frame)).toBe(false);
    expect(await closed).toBe(4008);
    expect(received).toHaveLength(2);
  });
});

/** The position message of the n-th fix, as the gateway sends it (about 200 bytes). */
const position = (n: number): string =>
  JSON.stringify({ type: 'position', topic: 'event:0b7e5a8c-3f7e-4a8b-9c1d-2e3f4a5b6c7d', cursor: `${1_733_100_000_000 + n}-0`, data: { deviceId: `35630704244${String(n % 100).padStart(4, '0')}`, lat: 24.512345, lon: 54.412345, ts: 1_733_100_000_000 + n, speed: 88.5, course: 270, satellites: 12 } });

function* positions(from: number, to: number): Generator<string> {
  for (let n = from; n < to; n++) yield position(n);
}

describe('a catch-up of many positions at once', () => {
  // 100 cars at 1 Hz for 100 s: about 2 MB, twice the default limit of unsent bytes.
  const n = 10_000;

  it('reaches a reading viewer in order, without closing it as too slow (a resume after a minute away)', async () => {
    const { viewer, received } = await pair();
    expect(await viewer.catchUp(positions(0, n), () => true)).toBe(true);
    await until(() => received.length === n);
    expect(viewer.closed).toBe(false);
    expect(received.map((m) => m.text)).toEqual([...positions(0, n)]);
  });

  it('sends the positions kept while the subscription was prepared, then the live ones, in order', async () => {
    const { viewer, received } = await pair({ maxQueued: 2 * n });
    const slot = viewer.startPreparing('event:e');
    for (let i = 0; i < n; i++) viewer.deliver('event:e', `${i}-0`, sharedFrame(position(i)));
    const going = viewer.goLive('event:e', slot, '99-0');
    // Arrives while the kept ones are still going out: after them, not before, and not lost.
    viewer.deliver('event:e', `${n}-0`, sharedFrame(position(n)));
    await going;
    expect(viewer.subscriptions.get('event:e')).toBe('live');
    viewer.deliver('event:e', `${n + 1}-0`, sharedFrame(position(n + 1)));
    await until(() => received.length === n - 100 + 2);
    expect(viewer.closed).toBe(false);
    expect(received.map((m) => m.text)).toEqual([...positions(100, n + 2)]);
  });

  it('stops once the subscription it is for is gone', async () => {
    const { viewer, received } = await pair();
    let wanted = true;
    const sending = viewer.catchUp(positions(0, n), () => wanted);
    wanted = false;
    expect(await sending).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.length).toBeGreaterThan(0);
    expect(received.length).toBeLessThan(n);
    expect(viewer.closed).toBe(false);
  });

  it('still closes a viewer that stops reading, once the live positions kept for it pass the limit', async () => {
    const { viewer, client } = await pair({ maxQueued: 100 });
    (client as unknown as { _socket: { pause(): void } })._socket.pause();
    const slot = viewer.startPreparing('event:e');
    // Far more than the kernel's socket buffers take: the catch-up waits for a reader that never comes.
    const sending = viewer.catchUp(positions(0, 200_000), () => viewer.holds('event:e', slot));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(viewer.closed).toBe(false);
    for (let i = 0; i <= 100; i++) viewer.deliver('event:e', `${i}-0`, sharedFrame(position(i)));
    expect(viewer.closed).toBe(true);
    expect(await sending).toBe(false);
  });
});

describe('a topic claimed by one request after another', () => {
  it('goes live only for the request that holds it now', async () => {
    const { viewer, received } = await pair();
    // Subscribe, unsubscribe, subscribe again: the first request's preparation ends after the second claimed the topic.
    const first = viewer.startPreparing('event:e');
    viewer.subscriptions.delete('event:e');
    const second = viewer.startPreparing('event:e');
    viewer.deliver('event:e', '1-0', sharedFrame(position(1)));
    await viewer.goLive('event:e', first, null);
    expect(viewer.subscriptions.get('event:e')).toBe(second);
    expect(viewer.holds('event:e', first)).toBe(false);
    await viewer.goLive('event:e', second, null);
    expect(viewer.subscriptions.get('event:e')).toBe('live');
    await until(() => received.length === 1);
    expect(received.map((m) => m.text)).toEqual([position(1)]);
  });
});
