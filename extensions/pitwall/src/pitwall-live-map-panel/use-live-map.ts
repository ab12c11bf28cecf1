import type { useApi } from '@directus/extensions-sdk';
import { computed, onBeforeUnmount, onMounted, ref, shallowRef } from 'vue';
import { errorMessage } from '../pitwall-replay-panel/format';
import { gatewayUrl, type LiveConfig } from '../shared/live-config';
import type { LiveSetup, StageResultState } from '../shared/live-setup';
import { carsOf, DEFAULT_STALE_SECONDS, extendTrail, offerFix, type Fix } from './fleet';
import { LiveSocket, type LinkState, type PlaybackInfo, type SocketLike } from './live-socket';

type Api = ReturnType<typeof useApi>;

/** How often the course and trackers are read again (a tracker moved to another car shows under its new number). */
const SETUP_REFRESH_MS = 30_000;
/** A fix of a tracker the map does not know reads the trackers again, at most this often. */
const UNKNOWN_TRACKER_REFRESH_MS = 5_000;
const STAGE_STATES_POLL_MS = 5_000;

export interface PlaybackView extends PlaybackInfo {
  /** Wall clock when the playback started here: the played-back time runs `speed` times as fast from `from`. */
  startedAt: number;
}

const statusOf = (error: unknown): number | undefined => (error as { response?: { status?: number } })?.response?.status;

/**
 * The live map's state: the event's course and trackers (from the bundle's endpoint), its cars (newest fix per
 * tracker, from the gateway), the connection's state line, and a playback of a stored stage beside the live
 * subscription. Everything stops when the panel goes away.
 */
export function useLiveMap(api: Api, options: { gatewayOption: () => unknown; staleSeconds: () => unknown }) {
  const setup = shallowRef<LiveSetup | null>(null);
  const setupError = ref<string | null>(null);
  const link = ref<LinkState>({ kind: 'stopped' });
  const url = ref<string | null>(null);
  const notice = ref<string | null>(null);
  const playback = ref<PlaybackView | null>(null);
  /** What became of the last playback ("ended", "stopped", why it failed): shown until the next one. */
  const playbackNote = ref<string | null>(null);
  const now = ref(Date.now());
  const stageStates = shallowRef<StageResultState[]>([]);
  const stageStatesError = ref<string | null>(null);

  // The fixes live outside Vue's reactivity (hundreds of updates a second at a playback's 50×); `version` redraws,
  // at most once a frame.
  const liveFixes = new Map<string, Fix>();
  const playbackFixes = new Map<string, Fix>();
  const liveTrails = new Map<string, [number, number][]>();
  const playbackTrails = new Map<string, [number, number][]>();
  /** Keeps the fix when it is the tracker's newest, and extends its trail; true when the map changes. */
  const take = (fixes: Map<string, Fix>, trails: Map<string, [number, number][]>, fix: Fix): boolean => {
    // A played-back fix is of the past by design; a live one far ahead of now is a tracker clock's glitch.
    if (!offerFix(fixes, fix, fixes === liveFixes ? Date.now() : undefined)) return false;
    trails.set(fix.deviceId, extendTrail(trails.get(fix.deviceId) ?? [], fix));
    return true;
  };
  const version = ref(0);
  let redrawQueued = false;
  const redraw = () => {
    if (redrawQueued) return;
    redrawQueued = true;
    const flush = () => {
      redrawQueued = false;
      version.value++;
    };
    if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(flush);
    else setTimeout(flush, 100);
  };

  let socket: LiveSocket | null = null;
  let eventId: string | null = null;
  let generation = 0;
  let clock: ReturnType<typeof setInterval> | null = null;
  let setupTimer: ReturnType<typeof setInterval> | null = null;
  let statesTimer: ReturnType<typeof setTimeout> | null = null;
  let lastSetupRead = 0;
  let cspBlocked: string | null = null;

  const staleMs = computed(() => {
    const seconds = Number(options.staleSeconds());
    return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_STALE_SECONDS) * 1000;
  });

  /** The map's clock: now, or the played-back time during a playback (its cars are stale by that clock, not ours). */
  const mapNow = computed(() => (playback.value ? Math.min(playback.value.to, playback.value.from + (now.value - playback.value.startedAt) * playback.value.speed) : now.value));

  const cars = computed(() => {
    void version.value;
    const fixes = playback.value ? playbackFixes : liveFixes;
    return carsOf(fixes.values(), setup.value?.trackers ?? [], mapNow.value, staleMs.value);
  });
  const trails = computed((): ReadonlyMap<string, readonly [number, number][]> => {
    void version.value;
    return playback.value ? playbackTrails : liveTrails;
  });
  /** The live cars, also during a playback (which leaves the live subscription as it is). */
  const liveCount = computed(() => {
    void version.value;
    return liveFixes.size;
  });

  async function readSetup(id: string, current: number): Promise<void> {
    lastSetupRead = Date.now();
    try {
      const { data } = await api.get<LiveSetup>(`/pitwall/live/${id}`);
      if (current !== generation) return;
      setup.value = data;
      setupError.value = null;
    } catch (e) {
      if (current === generation) setupError.value = errorMessage(e);
    }
  }

  function knownTracker(fix: Fix): void {
    if (!setup.value || !eventId) return;
    if (setup.value.trackers.some((t) => t.device_id === fix.deviceId)) return;
    if (Date.now() - lastSetupRead > UNKNOWN_TRACKER_REFRESH_MS) void readSetup(eventId, generation);
  }

  async function resolveUrl(): Promise<string> {
    let configured: LiveConfig = { url: null };
    try {
      configured = (await api.get<LiveConfig>('/pitwall/live/config')).data;
    } catch (e) {
      notice.value = `cannot read the gateway's address from Directus: ${errorMessage(e)}`;
    }
    if (configured.problem) notice.value = configured.problem;
    return gatewayUrl(options.gatewayOption(), configured.url, window.location);
  }

  /** Why a connection closed before it opened: browsers do not show a refused upgrade's status (401, 503). */
  async function explainRefusal(): Promise<string | null> {
    if (cspBlocked) return cspBlocked;
    try {
      await api.get('/users/me', { params: { fields: 'id' } });
    } catch (e) {
      if (statusOf(e) === 401) return 'not signed in: your Directus session has ended, sign in again (the gateway answers 401)';
    }
    return `cannot connect to the gateway at ${url.value}: it refused the connection (401/503) or is not reachable`;
  }

  function onPolicyViolation(event: SecurityPolicyViolationEvent): void {
    if (!url.value || event.effectiveDirective !== 'connect-src') return;
    const origin = new URL(url.value).host;
    if (!event.blockedURI.includes(origin)) return;
    cspBlocked = `Directus's Content-Security-Policy does not allow ${url.value}: add it to CONTENT_SECURITY_POLICY_DIRECTIVES__CONNECT_SRC, or serve the gateway over wss://`;
    link.value = { kind: 'error', code: 'blocked', message: cspBlocked };
  }

  function closeSocket(): void {
    socket?.stop();
    socket = null;
  }

  /** Shows another event (null: none): its course, trackers and cars, on a fresh subscription. */
  async function open(id: string | null): Promise<void> {
    const current = ++generation;
    closeSocket();
    eventId = id;
    for (const map of [liveFixes, playbackFixes, liveTrails, playbackTrails]) map.clear();
    playback.value = null;
    playbackNote.value = null;
    setup.value = null;
    setupError.value = null;
    stageStates.value = [];
    redraw();
    if (!id) return;
    const [address] = await Promise.all([resolveUrl(), readSetup(id, current)]);
    if (current !== generation) return;
    url.value = address;
    cspBlocked = null;
    socket = new LiveSocket(
      // The browser's WebSocket: its handlers take DOM events, of which the client reads `data`, `code` and `reason` only.
      { url: address, event: id, open: (u) => new WebSocket(u) as unknown as SocketLike, explainRefusal },
      {
        state: (state) => {
          if (current !== generation) return;
          // A page policy block stays on the state line: retrying cannot help.
          link.value = cspBlocked && state.kind === 'reconnecting' ? { kind: 'error', code: 'blocked', message: cspBlocked } : state;
        },
        snapshot: (fixes) => {
          for (const fix of fixes) take(liveFixes, liveTrails, fix);
          redraw();
        },
        live: (fix) => {
          if (take(liveFixes, liveTrails, fix)) redraw();
          knownTracker(fix);
        },
        playbackStarted: (info) => {
          playbackFixes.clear();
          playbackTrails.clear();
          playback.value = { ...info, startedAt: Date.now() };
          playbackNote.value = null;
          redraw();
        },
        playback: (fix) => {
          if (take(playbackFixes, playbackTrails, fix)) redraw();
        },
        playbackEnded: (end) => {
          const was = playback.value;
          playback.value = null;
          playbackFixes.clear();
          playbackTrails.clear();
          redraw();
          const what = was ? `Playback of ${stageName(was.stage)}` : 'Playback';
          playbackNote.value =
            end.reason === 'ended' ? `${what} ended (${end.positions ?? 0} positions).`
              : end.reason === 'stopped' ? `${what} stopped.`
                : end.reason === 'disconnected' ? `${what} stopped: the connection to the gateway was lost.`
                  : `${what} failed: ${end.message ?? 'no reason given'}`;
        },
        notice: (message) => {
          if (current === generation) notice.value = message;
        },
      },
    );
    socket.start();
  }

  const stageName = (id: string): string => setup.value?.stages.find((s) => s.id === id)?.name ?? 'the stage';

  function play(stage: string, speed: number): boolean {
    playbackNote.value = null;
    const asked = socket?.play(stage, speed) ?? false;
    if (!asked) playbackNote.value = 'Not connected to the gateway: the playback cannot start.';
    return asked;
  }

  function stopPlayback(): void {
    socket?.stopPlayback();
  }

  /** Reads the event's stored stage results now and every few seconds while a car is selected (null stops). */
  function followStageStates(follow: boolean): void {
    if (statesTimer) clearTimeout(statesTimer);
    statesTimer = null;
    if (!follow || !eventId) return;
    const id = eventId;
    const current = generation;
    const read = async () => {
      try {
        const { data } = await api.get<{ results: StageResultState[] }>(`/pitwall/live/${id}/stage-states`);
        if (current !== generation) return;
        stageStates.value = data.results;
        stageStatesError.value = null;
      } catch (e) {
        if (current === generation) stageStatesError.value = errorMessage(e);
      }
      if (current === generation) statesTimer = setTimeout(read, STAGE_STATES_POLL_MS);
    };
    void read();
  }

  onMounted(() => {
    clock = setInterval(() => (now.value = Date.now()), 1000);
    setupTimer = setInterval(() => eventId && void readSetup(eventId, generation), SETUP_REFRESH_MS);
    document.addEventListener('securitypolicyviolation', onPolicyViolation);
  });
  onBeforeUnmount(() => {
    generation++;
    closeSocket();
    if (clock) clearInterval(clock);
    if (setupTimer) clearInterval(setupTimer);
    if (statesTimer) clearTimeout(statesTimer);
    document.removeEventListener('securitypolicyviolation', onPolicyViolation);
  });

  return { setup, setupError, link, url, notice, playback, playbackNote, cars, trails, liveCount, mapNow, staleMs, stageStates, stageStatesError, open, play, stopPlayback, followStageStates, stageName };
}
