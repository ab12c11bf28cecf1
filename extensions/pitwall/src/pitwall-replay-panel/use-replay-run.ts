import type { useApi } from '@directus/extensions-sdk';
import { onBeforeUnmount, ref } from 'vue';
import { errorMessage, guardedCall } from './format';
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
  const error = ref<string | null>(null);
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
          if (current === generation) error.value = null;
          show(fresh, current);
        } catch (e) {
          if (current !== generation) return;
          error.value = errorMessage(e);
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

  async function cancel(): Promise<void> {
    const current = run.value;
    if (!current || !isActive(current)) return;
    await guarded(async () => {
      const { data } = await api.post<{ run: ReplayRun }>(`/pitwall/replay/${current.id}/cancel`);
      show(data.run);
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
      error.value = errorMessage(e);
    }
  }

  function guarded(work: () => Promise<void>): Promise<void> {
    return guardedCall(busy, error, work);
  }

  onBeforeUnmount(() => {
    generation++;
    stopPolling();
  });

  return { run, recent, busy, error, queuedForMs, start, cancel, open, loadRecent };
}
