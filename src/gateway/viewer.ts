import type { WebSocket } from 'ws';
import { compareCursor } from './cursor.ts';
import type { Credentials } from './directus-access.ts';

/** Close codes a viewer can see, besides the standard ones (1001 on drain). */
export const CLOSE = {
  /** The viewer could not keep up: its send buffer passed the limit. Reconnect with `since` to catch up. */
  slowConsumer: 4008,
  /** No pong to the last keepalive ping. */
  unresponsive: 4009,
} as const;

/**
 * A subscription that is still being prepared (authorization, snapshot or resume): live positions are kept until it
 * is ready, then the ones after what the preparation sent go out, so nothing is lost or sent twice.
 */
interface Preparing {
  queue: { cursor: string; frame: string }[];
}

/** One connected viewer: what it subscribed to, and a send that never lets one slow viewer hold up the others. */
export class Viewer {
  readonly subscriptions = new Map<string, Preparing | 'live'>();
  alive = true;
  closed = false;

  constructor(
    readonly socket: WebSocket,
    readonly credentials: Credentials,
    readonly userId: string,
    private readonly limits: { maxBufferedBytes: number; maxQueued: number },
    private readonly onDropped: (viewer: Viewer, code: number, reason: string) => void,
  ) {}

  /** Sends a frame, or closes the viewer when its unsent data passed the limit (the others go on unhindered). */
  send(frame: string): boolean {
    if (this.closed) return false;
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.drop(CLOSE.slowConsumer, `slow consumer: more than ${this.limits.maxBufferedBytes} bytes waiting to be sent`);
      return false;
    }
    this.socket.send(frame);
    return true;
  }

  sendMessage(message: object): boolean {
    return this.send(JSON.stringify(message));
  }

  /** A live position of a topic this viewer subscribed to: sent now, or kept while the subscription is prepared. */
  deliver(topic: string, cursor: string, frame: string): void {
    const state = this.subscriptions.get(topic);
    if (state === undefined) return;
    if (state === 'live') {
      this.send(frame);
      return;
    }
    state.queue.push({ cursor, frame });
    if (state.queue.length > this.limits.maxQueued) this.drop(CLOSE.slowConsumer, 'slow consumer: too many positions arrived while the subscription was prepared');
  }

  startPreparing(topic: string): void {
    this.subscriptions.set(topic, { queue: [] });
  }

  /** Ends the preparation: the kept positions after `sentUpTo` (what the snapshot or resume covered) go out. */
  goLive(topic: string, sentUpTo: string | null): void {
    const state = this.subscriptions.get(topic);
    if (state === undefined || state === 'live') return;
    this.subscriptions.set(topic, 'live');
    for (const { cursor, frame } of state.queue) {
      if (sentUpTo === null || compareCursor(cursor, sentUpTo) > 0) this.send(frame);
    }
  }

  drop(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onDropped(this, code, reason);
    this.socket.close(code, reason.slice(0, 120));
    // A viewer that reads nothing would never complete the closing handshake either.
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}
