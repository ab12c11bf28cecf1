import type { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { compareCursor } from '../stream/cursor.ts';
import type { Credentials } from './directus-access.ts';

/** Close codes a viewer can see, besides the standard ones (1001 on drain). */
export const CLOSE = {
  /** Directus no longer accepts the credentials the viewer connected with: connect again with fresh ones. */
  credentialsRefused: 4001,
  /** The viewer could not keep up: its send buffer passed the limit. Reconnect with `since` to catch up. */
  slowConsumer: 4008,
  /** No pong to the last keepalive ping. */
  unresponsive: 4009,
} as const;

/**
 * One message for many viewers, encoded once: its JSON text, and the whole WebSocket frame that carries it (`wire`),
 * written as it is to every viewer's socket, instead of ws measuring, encoding and framing it again for each.
 */
export interface SharedFrame {
  text: string;
  wire: Buffer;
}

/** A message as sent: JSON text for one viewer, or a frame shared by many. */
export type Frame = string | SharedFrame;

/** The WebSocket frame of a text message from the server (RFC 6455 5.2: FIN, opcode 1, unmasked, length). */
export function sharedFrame(text: string): SharedFrame {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(header + length);
  wire[0] = 0x81;
  if (header === 2) wire[1] = length;
  else if (header === 4) {
    wire[1] = 126;
    wire.writeUInt16BE(length, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    wire.writeUInt32BE(length % 2 ** 32, 6);
  }
  wire.write(text, header, 'utf8');
  return { text, wire };
}

/**
 * A subscription that is still being prepared (authorization, snapshot or resume): live positions are kept until it
 * is ready, then the ones after what the preparation sent go out, so nothing is lost or sent twice.
 */
export interface Preparing {
  queue: { cursor: string; frame: Frame }[];
  /** The id of the subscribe request being answered, for an unsubscribe that cancels it. */
  requestId?: string | number;
}

/**
 * Viewers written to during this turn of the event loop: their sockets stay corked until the turn ends, so a
 * viewer gets all its frames of a stream batch in one write, and thousands of writes go out together. On this
 * 2-core machine a write per frame, each waking a reader, cost several times the CPU of the broadcast (bench
 * `gateway`, docs/performance.md).
 */
let corked: Viewer[] = [];

function uncorkAll(): void {
  const viewers = corked;
  corked = [];
  for (const viewer of viewers) viewer.uncork();
}

/** One connected viewer: what it subscribed to, and a send that never lets one slow viewer hold up the others. */
export class Viewer {
  readonly subscriptions = new Map<string, Preparing | 'live'>();
  /**
   * Subscribe and playback requests still at work (asking Directus, reading a snapshot or what was missed), each with
   * the topic it claimed; from `startPreparing` to `finished`.
   */
  private readonly working = new Map<Preparing, string>();
  alive = true;
  closed = false;
  /**
   * The TCP socket under the WebSocket (ws keeps it as `_socket`): corked while this turn's frames pile up, and
   * where shared frames are written. ws writes its own frames (replies, pings, close) straight to it as well, so
   * everything reaches the viewer in the order sent; with a compression extension ws would queue its own, so then
   * (not in the gateway, which turns permessage-deflate off) every frame goes through ws.send.
   */
  private readonly tcp: Writable | null;
  private isCorked = false;

  constructor(
    readonly socket: WebSocket,
    readonly credentials: Credentials,
    readonly userId: string,
    private readonly limits: { maxBufferedBytes: number; maxQueued: number },
    private readonly onDropped: (viewer: Viewer, code: number, reason: string) => void,
  ) {
    const tcp = (socket as unknown as { _socket?: Writable })._socket;
    this.tcp = tcp && typeof tcp.cork === 'function' && !socket.extensions ? tcp : null;
  }

  /**
   * Sends a frame, or closes the viewer when its unsent data passed the limit (the others go on unhindered). Unsent
   * data includes this turn's frames, waiting in the corked socket: more than the limit at once goes through
   * `catchUp`, which paces it.
   */
  send(frame: Frame): boolean {
    if (this.closed) return false;
    if (this.unsent() > this.limits.maxBufferedBytes) {
      this.drop(CLOSE.slowConsumer, `slow consumer: more than ${this.limits.maxBufferedBytes} bytes waiting to be sent`);
      return false;
    }
    const tcp = this.tcp;
    if (!tcp) {
      this.socket.send(typeof frame === 'string' ? frame : frame.text);
      return true;
    }
    if (!this.isCorked) {
      tcp.cork();
      this.isCorked = true;
      if (corked.length === 0) process.nextTick(uncorkAll);
      corked.push(this);
    }
    if (typeof frame === 'string') this.socket.send(frame);
    // As ws.send: nothing after the close handshake has begun.
    else if (this.socket.readyState === this.socket.OPEN) tcp.write(frame.wire);
    return true;
  }

  /** Bytes written to the viewer and not yet handed to the kernel. */
  private unsent(): number {
    // Without compression ws keeps nothing back itself: the socket's unsent bytes are all (and cheaper to read).
    return this.tcp ? this.tcp.writableLength : this.socket.bufferedAmount;
  }

  /**
   * Sends many frames at once (what a resuming viewer missed, positions kept while a subscription was prepared) in
   * pages of a quarter of the limit, each leaving in a turn of its own once the socket has handed the previous one to
   * the kernel. Sent in one turn, a minute of a hundred cars would pass the limit and close even a fast viewer as
   * slow; paced, a viewer gets them as fast as it reads, and one that does not read is still caught by its live
   * positions piling up (maxQueued, the limit on its other topics) or by the keepalive. Returns false, having sent
   * only part, once the viewer closed or `wanted` says the subscription is no longer the one these frames are for.
   */
  async catchUp(frames: Iterable<Frame>, wanted: () => boolean): Promise<boolean> {
    for (const frame of frames) {
      if (this.unsent() >= this.limits.maxBufferedBytes / 4 && !(await this.drained(wanted))) return false;
      this.send(frame);
    }
    return !this.closed;
  }

  /** Ends this turn, so its frames leave, and waits until the socket has handed them all to the kernel (or closed). */
  private async drained(wanted: () => boolean): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    const tcp = this.tcp;
    if (tcp && tcp.writableNeedDrain && !tcp.destroyed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          tcp.off('drain', done).off('close', done);
          resolve();
        };
        tcp.on('drain', done).on('close', done);
      });
    }
    return !this.closed && wanted();
  }

  /** Lets this turn's frames go, in one write. */
  uncork(): void {
    if (!this.isCorked) return;
    this.isCorked = false;
    this.tcp!.uncork();
  }

  sendMessage(message: object): boolean {
    return this.send(JSON.stringify(message));
  }

  /** A live position of a topic this viewer subscribed to: sent now, or kept while the subscription is prepared. */
  deliver(topic: string, cursor: string, frame: Frame): void {
    const state = this.subscriptions.get(topic);
    if (state === undefined) return;
    if (state === 'live') {
      this.send(frame);
      return;
    }
    state.queue.push({ cursor, frame });
    if (state.queue.length > this.limits.maxQueued) this.drop(CLOSE.slowConsumer, 'slow consumer: too many positions arrived while the subscription was prepared');
  }

  /**
   * Claims the topic for one request. The slot returned is that request's own: after an unsubscribe and a new
   * subscribe of the topic, the topic holds the new request's slot, and the first request must not act on it.
   */
  startPreparing(topic: string, requestId?: string | number): Preparing {
    const slot: Preparing = { queue: [], ...(requestId !== undefined ? { requestId } : {}) };
    this.subscriptions.set(topic, slot);
    this.working.set(slot, topic);
    return slot;
  }

  /** The request that claimed `slot` is done (subscribed, refused or failed): it counts no more of itself. */
  finished(slot: Preparing): void {
    this.working.delete(slot);
  }

  /**
   * What counts against the limit of topics per connection: the topics held (live or being prepared), and the
   * requests still at work for a topic let go meanwhile. An unsubscribe does not call back a Directus lookup already
   * asked for, so without the latter, subscribe/unsubscribe pairs would set off any number of lookups at once.
   */
  occupied(): number {
    let letGo = 0;
    for (const [slot, topic] of this.working) if (this.subscriptions.get(topic) !== slot) letGo++;
    return this.subscriptions.size + letGo;
  }

  /** Whether the viewer is open and the topic still held by the request that claimed `slot`. */
  holds(topic: string, slot: Preparing): boolean {
    return !this.closed && this.subscriptions.get(topic) === slot;
  }

  /**
   * Ends the preparation of `slot`: the kept positions after `sentUpTo` (what the snapshot or resume covered) go out,
   * paced as a catch-up; those arriving meanwhile join the queue and follow in order; once it is empty, positions go
   * out as they come. Does nothing once the topic is no longer held by `slot`.
   */
  async goLive(topic: string, slot: Preparing, sentUpTo: string | null): Promise<void> {
    const held = () => this.holds(topic, slot);
    while (held()) {
      const kept = slot.queue.splice(0);
      if (kept.length === 0) {
        this.subscriptions.set(topic, 'live');
        this.finished(slot);
        return;
      }
      const unsent = kept.filter(({ cursor }) => sentUpTo === null || compareCursor(cursor, sentUpTo) > 0);
      await this.catchUp(unsent.map(({ frame }) => frame), held);
    }
  }

  drop(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onDropped(this, code, reason);
    this.socket.close(code, reason.slice(0, 120));
    this.uncork();
    // A viewer that reads nothing would never complete the closing handshake either.
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}
