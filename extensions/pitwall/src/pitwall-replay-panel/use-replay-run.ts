import type { useApi } from '@directus/extensions-sdk';
import { computed, onBeforeUnmount, ref } from 'vue';
import { errorCode, errorMessage, guardedCall } from './format';
import { isActive, type ReplayRequest, type ReplayRun } from './types';

type Api = ReturnType<typeof useApi>;

/** How often a queued or running run is read again; the runner writes progress once a second. */
export const POLL_MS = 500;
const RECENT_RUNS = 20;

/**
 * The run the panel shows: started here or reopened from the list of earlier runs, read again every POLL_MS while
 * it is queued or running, cancellable. Only the latest `show` counts: a slow answer about a run the user left is
 * dropped.
 */
export function useReplayRun(api: Api) {
  const run = ref<ReplayRun | null>(null);
  const recent = ref<ReplayRun[]>([]);
  const busy = ref(false);
  /** What a start, cancel or open answered: kept until the next such action (a poll does not clear it). */
  const actionError = ref<string | null>(null);
  /** Why reading the run failed; cleared by the next read that works (a Directus restart). */
  const pollError = ref<string | null>(null);
  const error = computed(() => actionError.value ?? pollError.value);
  const finishing = ref(false);
  /** How long the run shown has been seen queued here (the browser's clock; the server's may differ). */
  const queuedForMs = ref(0);
  let queued: { id: string; since: number } | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let generation = 0;

  const readRun = async (id: string): Promise<ReplayRun> => (await api.get<{ run: ReplayRun }>(`/pitwall/replay/${id}`)).data.run;

  function stopPolling(): void {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  /** Shows a run, and keeps reading it while it works; lists the earlier runs again once it ended. */
  function show(next: ReplayRun, current = ++generation): void {
    if (current !== generation) return;
    const wasActive = isActive(run.value) && run.value?.id === next.id;
    if (next.status !== 'queued') queued = null;
    else if (queued?.id !== next.id) queued = { id: next.id, since: Date.now() };
    queuedForMs.value = queued ? Date.now() - queued.since : 0;
    run.value = next;
    stopPolling();
    if (isActive(next)) {
      timer = setTimeout(async () => {
        try {
          const fresh = await readRun(next.id);
          if (current === generation) pollError.value = null;
          show(fresh, current);
        } catch (e) {
          if (current !== generation) return;
          pollError.value = errorMessage(e);
          // Keep trying: a dashboard left open survives a Directus restart.
          show(next, current);
        }
      }, POLL_MS);
    } else if (wasActive) {
      void loadRecent();
    }
  }

  async function start(request: ReplayRequest): Promise<void> {
    await guarded(async () => {
      const { data } = await api.post<{ run: ReplayRun }>('/pitwall/replay', request);
      show(data.run);
      await loadRecent();
    });
  }

  /**
   * Cancels the run shown. A replay applying its changes is not stopped half-way (409 PITWALL_RUN_FINISHING):
   * `finishing` then offers an admin the forced stop, for a delivery that keeps failing.
   */
  async function cancel(force = false): Promise<void> {
    const current = run.value;
    if (!current || !isActive(current)) return;
    await guarded(async () => {
      try {
        const { data } = await api.post<{ run: ReplayRun }>(`/pitwall/replay/${current.id}/cancel${force ? '?force=true' : ''}`);
        finishing.value = false;
        show(data.run);
      } catch (e) {
        finishing.value = errorCode(e) === 'PITWALL_RUN_FINISHING';
        throw e;
      }
      await loadRecent();
    });
  }

  /** Reopens an earlier run with its result. */
  async function open(id: string | null): Promise<void> {
    if (!id) return;
    const current = ++generation;
    stopPolling();
    await guarded(async () => show(await readRun(id), current));
  }

  async function loadRecent(): Promise<void> {
    try {
      const { data } = await api.get<{ runs: ReplayRun[] }>('/pitwall/replay', { params: { limit: RECENT_RUNS } });
      recent.value = data.runs;
    } catch (e) {
      pollError.value = errorMessage(e);
    }
  }

  function guarded(work: () => Promise<void>): Promise<void> {
    return guardedCall(busy, actionError, work);
  }

  onBeforeUnmount(() => {
    generation++;
    stopPolling();
  });

  return { run, recent, busy, error, finishing, queuedForMs, start, cancel, open, loadRecent };
}
