import type { useApi } from '@directus/extensions-sdk';
import { onBeforeUnmount, onMounted, ref } from 'vue';
import type { Classification } from '../shared/classification';
import { errorMessage } from '../pitwall-replay-panel/format';
import { OVERALL, POLL_MS } from './view';

type Api = ReturnType<typeof useApi>;

/**
 * The classification of the picked event and stage (or Overall), read from `GET /pitwall/classification` and read
 * again every POLL_MS while the page is visible. Only the latest pick counts: an answer about a pick the user left is
 * dropped. A failed reading keeps the last classification on screen with the error, and polling goes on (a
 * dashboard left open survives a Directus restart).
 */
export function useClassification(api: Api) {
  const classification = ref<Classification | null>(null);
  const error = ref<string | null>(null);
  const loading = ref(false);
  let pick: { event: string; stage: string } | null = null;
  let generation = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  function stopPolling(): void {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  async function read(current: number): Promise<void> {
    // One reading at a time per pick: the one in flight schedules the next.
    if (!pick || current !== generation || loading.value) return;
    stopPolling();
    const { event, stage } = pick;
    loading.value = true;
    try {
      const params = stage === OVERALL ? { event } : { event, stage };
      const { data } = await api.get<Classification>('/pitwall/classification', { params });
      if (current !== generation) return;
      classification.value = data;
      error.value = null;
    } catch (e) {
      if (current !== generation) return;
      error.value = errorMessage(e);
    } finally {
      if (current === generation) {
        loading.value = false;
        schedule(current);
      }
    }
  }

  /** A hidden tab asks nothing; it reads again as soon as it is shown. */
  function schedule(current: number): void {
    stopPolling();
    timer = setTimeout(() => (document.hidden ? schedule(current) : void read(current)), POLL_MS);
  }

  /** Shows another event and stage (or OVERALL); null clears the panel. */
  function show(event: string | null, stage: string | null): void {
    generation++;
    stopPolling();
    loading.value = false;
    classification.value = null;
    error.value = null;
    pick = event && stage ? { event, stage } : null;
    if (pick) void read(generation);
  }

  const onVisible = () => {
    if (!document.hidden && pick) void read(generation);
  };
  onMounted(() => document.addEventListener('visibilitychange', onVisible));
  onBeforeUnmount(() => {
    generation++;
    stopPolling();
    document.removeEventListener('visibilitychange', onVisible);
  });

  return { classification, error, loading, show, refresh: () => void read(generation) };
}
