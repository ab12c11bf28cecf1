import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { sharedFrame, Viewer } from '../../../src/gateway/viewer.ts';

/** A real ws server and client on loopback: the server side wrapped in a Viewer, the client keeping what it reads. */
async function pair(options: { deflate?: boolean; maxBufferedBytes?: number } = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: options.deflate ?? false });
  await new Promise((resolve) => server.once('listening', resolve));
  const connected = new Promise<Viewer>((resolve) =>
    server.once('connection', (ws) => resolve(new Viewer(ws, { kind: 'bearer', token: 't' }, 'user', { maxBufferedBytes: options.maxBufferedBytes ?? 1 << 20, maxQueued: 10 }, () => undefined))),
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
