/**
 * The live map's connection to the gateway (CONTRACTS section 6), without Vue: subscribe to the event's topic,
 * reconnect with backoff and resume with `since` (the last cursor), subscribe afresh on `resume-gap`, and play a
 * stored stage back on a topic of its own while the live subscription goes on. The socket is injected, so the unit
 * tests drive it with a fake.
 */
import { isFix, type Fix } from './fleet.ts';

/** The part of the browser's WebSocket the client uses. */
export interface SocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type LinkState =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; attempt: number; inMs: number; reason: string }
  /** The gateway refused the subscription (forbidden, not found, Directus unavailable): the connection stays. */
  | { kind: 'error'; code: string; message: string }
  | { kind: 'stopped' };

export interface PlaybackInfo {
  topic: string;
  stage: string;
  speed: number;
  from: number;
  to: number;
}

export interface LiveListener {
  state(state: LinkState): void;
  /** The event's cars on (re)subscribe; `resumed` when the gateway resumed from the last cursor instead. */
  snapshot(fixes: Fix[], resumed: boolean): void;
  live(fix: Fix): void;
  playbackStarted(info: PlaybackInfo): void;
  playback(fix: Fix): void;
  /** The playback is over: it ended, was stopped here, failed, or the connection went. */
  playbackEnded(end: { reason: 'ended' | 'stopped' | 'failed' | 'disconnected'; positions?: number; message?: string }): void;
  /** A message of the gateway that concerns neither subscription. */
  notice?(message: string): void;
}

export interface LiveSocketOptions {
  url: string;
  event: string;
  open: (url: string) => SocketLike;
  /** First delay after a dropped connection, doubled on each failed attempt up to `maxDelayMs`, with ±20 % jitter. */
  firstDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  setTimer?: (run: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  /** Asked when a connection closed before it opened (browsers hide the HTTP status of a refused upgrade). */
  explainRefusal?: () => Promise<string | null>;
}

const LIVE_ID = 'live';
const PLAYBACK_ID = 'playback';

/** Why a connection closed, as the state line says it. */
export function closeReason(code: number, reason: string, opened: boolean): string {
  if (!opened) return 'cannot connect to the gateway';
  switch (code) {
    case 1001:
      return 'the gateway is restarting';
    case 4001:
      return 'the sign-in this map connected with has expired';
    case 4008:
      return 'the gateway dropped this map as too slow to keep up';
    case 4009:
      return 'the gateway had no answer to its keepalive';
    default:
      return reason ? `connection lost: ${reason}` : `connection lost (code ${code})`;
  }
}

export class LiveSocket {
  /** The stream position of the last live position (or snapshot) seen: where a reconnect resumes. */
  cursor: string | null = null;
  private socket: SocketLike | null = null;
  private opened = false;
  private attempt = 0;
  private stopped = false;
  private timer: unknown = null;
  /** The delay of the reconnect that is waiting, for the state line. */
  private lastDelay = 0;
  private playbackTopic: string | null = null;
  /** A playback asked for and not yet answered; `cancelled` when Stop came first. */
  private requested: { stage: string; speed: number; cancelled: boolean } | null = null;
  private readonly topic: string;

  constructor(private readonly options: LiveSocketOptions, private readonly listener: LiveListener) {
    this.topic = `event:${options.event}`;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (the panel goes away, or another event is picked). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, 'map closed');
    }
    this.listener.state({ kind: 'stopped' });
  }

  get playing(): boolean {
    return this.playbackTopic !== null || (this.requested !== null && !this.requested.cancelled);
  }

  /** Asks the gateway to play a stored stage back; false when not connected. */
  play(stage: string, speed: number): boolean {
    if (!this.socket || !this.opened) return false;
    if (this.playing) this.stopPlayback();
    this.requested = { stage, speed, cancelled: false };
    this.send({ type: 'playback', event: this.options.event, stage, speed, id: PLAYBACK_ID });
    return true;
  }

  /** Back to live: the playback's topic is left, which stops the playback on the gateway. */
  stopPlayback(): void {
    if (this.requested) this.requested.cancelled = true;
    const topic = this.playbackTopic;
    if (!topic) return;
    this.playbackTopic = null;
    this.send({ type: 'unsubscribe', topic });
    this.listener.playbackEnded({ reason: 'stopped' });
  }

  private connect(): void {
    if (this.stopped) return;
    this.opened = false;
    this.listener.state({ kind: 'connecting' });
    let socket: SocketLike;
    try {
      socket = this.options.open(this.options.url);
    } catch (error) {
      // A malformed URL, or a page policy that refuses it outright.
      this.retry(`cannot connect to ${this.options.url}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.opened = true;
      this.subscribe();
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onerror = () => undefined;
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
  }

  private subscribe(): void {
    this.send({ type: 'subscribe', topic: this.topic, id: LIVE_ID, ...(this.cursor ? { since: this.cursor } : {}) });
  }

  private send(message: object): void {
    this.socket?.send(JSON.stringify(message));
  }

  private closed(socket: SocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    const opened = this.opened;
    if (this.playbackTopic || this.requested) {
      this.playbackTopic = null;
      this.requested = null;
      // A playback lives on the connection that asked for it: the gateway stopped it when the connection went.
      this.listener.playbackEnded({ reason: 'disconnected' });
    }
    if (this.stopped) return;
    const attempt = this.attempt;
    // A drain, or a sign-in that expired (the browser sends the one Directus has renewed): again at once.
    this.retry(closeReason(code, reason, opened), code === 1001 || code === 4001);
    if (!opened && this.options.explainRefusal) {
      void this.options.explainRefusal().then(
        (why) => {
          // Only while that attempt is still the one waiting.
          if (why && !this.stopped && !this.socket && this.attempt === attempt + 1) this.listener.state({ kind: 'reconnecting', attempt: this.attempt, inMs: this.lastDelay, reason: why });
        },
        () => undefined,
      );
    }
  }

  private retry(reason: string, soon = false): void {
    const { firstDelayMs = 1000, maxDelayMs = 30_000, random = Math.random } = this.options;
    const base = soon ? firstDelayMs : Math.min(maxDelayMs, firstDelayMs * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + 0.4 * random()));
    this.attempt++;
    this.lastDelay = delay;
    this.listener.state({ kind: 'reconnecting', attempt: this.attempt, inMs: delay, reason });
    this.clearTimer();
    this.timer = (this.options.setTimer ?? ((run, ms) => setTimeout(run, ms)))(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer !== null) (this.options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)))(this.timer);
    this.timer = null;
  }

  private receive(data: unknown): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(String(data)) as Record<string, unknown>;
    } catch {
      return;
    }
    const topic = message['topic'];
    switch (message['type']) {
      case 'subscribed':
        if (topic !== this.topic) return;
        this.attempt = 0;
        if (typeof message['cursor'] === 'string' && message['cursor']) this.cursor = message['cursor'];
        this.listener.snapshot(Array.isArray(message['snapshot']) ? message['snapshot'].filter(isFix) : [], message['resumed'] === true);
        this.listener.state({ kind: 'connected' });
        return;
      case 'position': {
        const fix = message['data'];
        if (!isFix(fix)) return;
        if (topic === this.topic) {
          if (typeof message['cursor'] === 'string') this.cursor = message['cursor'];
          this.listener.live(fix);
        } else if (topic !== undefined && topic === this.playbackTopic) {
          this.listener.playback(fix);
        }
        return;
      }
      case 'playback':
        return this.playbackAnswered(message);
      case 'playback-ended':
        if (topic === undefined || topic !== this.playbackTopic) return;
        this.playbackTopic = null;
        this.listener.playbackEnded({ reason: 'ended', positions: Number(message['positions'] ?? 0) });
        return;
      case 'unsubscribed':
        // Unasked: the gateway ended the topic, the user may no longer read the event (or it is gone).
        if (topic === this.topic && typeof message['code'] === 'string') {
          this.cursor = null;
          this.listener.state({ kind: 'error', code: message['code'], message: String(message['message'] ?? '') });
          // Asked again later, with the backoff: a permission given back (or removed only for a moment) is seen.
          this.resubscribeLater();
        }
        return;
      case 'error':
        return this.refused(String(message['code'] ?? 'error'), String(message['message'] ?? ''), message['id'], Number(message['retryAfterMs'] ?? 0));
      default:
        return;
    }
  }

  private playbackAnswered(message: Record<string, unknown>): void {
    const requested = this.requested;
    this.requested = null;
    const topic = String(message['topic']);
    if (!requested || requested.cancelled) {
      // Stop came before the answer: leave the topic at once, which ends the playback.
      this.send({ type: 'unsubscribe', topic });
      return;
    }
    this.playbackTopic = topic;
    this.listener.playbackStarted({ topic, stage: String(message['stage'] ?? requested.stage), speed: Number(message['speed'] ?? requested.speed), from: Number(message['from']), to: Number(message['to']) });
  }

  private refused(code: string, text: string, id: unknown, retryAfterMs = 0): void {
    // A subscribe this map let go of before it was answered (another event picked meanwhile): nothing went wrong.
    if (code === 'cancelled') return;
    if (id === LIVE_ID) {
      if (code === 'resume-gap') {
        // The positions missed are no longer kept: a fresh snapshot instead.
        this.cursor = null;
        this.subscribe();
        return;
      }
      this.listener.state({ kind: 'error', code, message: text });
      // Directus could not be asked, or the gateway asks this connection to slow down: ask again later on it.
      if (code === 'unavailable' || code === 'rate-limited') this.resubscribeLater(retryAfterMs);
      return;
    }
    if (id === PLAYBACK_ID) {
      const wasWanted = this.requested && !this.requested.cancelled;
      this.requested = null;
      if (wasWanted) this.listener.playbackEnded({ reason: 'failed', message: `${code}: ${text}` });
      return;
    }
    // A playback that failed on the gateway says so on its topic, without an id.
    if (this.playbackTopic && text.includes(this.playbackTopic)) {
      this.playbackTopic = null;
      this.listener.playbackEnded({ reason: 'failed', message: text });
      return;
    }
    this.listener.notice?.(`${code}: ${text}`);
  }

  /** With the backoff, and never sooner than the gateway said (`retryAfterMs` of a rate-limited answer). */
  private resubscribeLater(atLeastMs = 0): void {
    const { firstDelayMs = 1000, maxDelayMs = 30_000 } = this.options;
    const delay = Math.max(atLeastMs > 0 && Number.isFinite(atLeastMs) ? atLeastMs : 0, Math.min(maxDelayMs, firstDelayMs * 2 ** Math.min(this.attempt++, 10)));
    this.clearTimer();
    this.timer = (this.options.setTimer ?? ((run, ms) => setTimeout(run, ms)))(() => {
      this.timer = null;
      if (this.socket && this.opened) this.subscribe();
    }, delay);
  }
}
