import type { useApi } from '@directus/extensions-sdk';
import { computed, ref } from 'vue';
import { guardedCall } from './format';
import type { RaceEntry, RaceEvent, RaceStage, ReplayRequest } from './types';

type Api = ReturnType<typeof useApi>;


/**
 * What the timekeeper picks: event, stage, entries, time range and mode. Picking an event loads its stages and
 * entries and sets the range to the event's window; picking a stage sets it to the stage's window (clearing the
 * stage goes back to the event's).
 */
export function useRaceSetup(api: Api) {
  const events = ref<RaceEvent[]>([]);
  const stages = ref<RaceStage[]>([]);
  const entries = ref<RaceEntry[]>([]);
  const event = ref<string | null>(null);
  const stage = ref<string | null>(null);
  const chosenEntries = ref<string[]>([]);
  const from = ref<string | null>(null);
  const to = ref<string | null>(null);
  const mode = ref<ReplayRequest['mode']>('preview');
  /** Apply rewrites timing: only admins may (the route refuses others); the panel offers it only to them. */
  const mayApply = ref(false);
  const loading = ref(false);
  const error = ref<string | null>(null);

  async function loadEvents(): Promise<void> {
    await guarded(async () => {
      // Through Pitwall's endpoint, which reads as the user: events with their stages.
      const setup = (await api.get<{ events: RaceEvent[]; may_apply?: boolean }>('/pitwall/race-setup')).data;
      events.value = setup.events;
      mayApply.value = setup.may_apply === true;
    });
  }

  async function pickEvent(id: string | null): Promise<void> {
    event.value = id;
    stage.value = null;
    chosenEntries.value = [];
    stages.value = [];
    entries.value = [];
    const picked = events.value.find((e) => e.id === id);
    from.value = picked?.starts_at ?? null;
    to.value = picked?.ends_at ?? null;
    if (!id) return;
    await guarded(async () => {
      const e = (await api.get<{ entries: RaceEntry[] }>(`/pitwall/race-setup/${id}/entries`)).data.entries;
      // A later pick won the race: keep its lists.
      if (event.value !== id) return;
      stages.value = picked?.stages ?? [];
      entries.value = e;
    });
  }

  function pickStage(id: string | null): void {
    stage.value = id;
    const picked = stages.value.find((s) => s.id === id);
    const ofEvent = events.value.find((e) => e.id === event.value);
    from.value = (picked ? picked.opens_at : ofEvent?.starts_at) ?? null;
    to.value = (picked ? picked.closes_at : ofEvent?.ends_at) ?? null;
  }

  /**
   * The form as an earlier run was asked, so that a run reopened shows what it replayed and Start runs it again. A range
   * the run was not given is the window it replayed (its stage's, else its event's); apply only for those who may.
   */
  async function showRequest(params: ReplayRequest): Promise<void> {
    const eventId = params.event ?? (params.stage ? eventOfStage(params.stage) : null);
    if (!eventId || !events.value.some((e) => e.id === eventId)) return;
    if (event.value !== eventId) await pickEvent(eventId);
    if (event.value !== eventId) return; // a later pick won
    pickStage(params.stage && stages.value.some((s) => s.id === params.stage) ? params.stage : null);
    chosenEntries.value = (params.entries ?? []).filter((id) => entries.value.some((e) => e.id === id));
    if (params.from) from.value = params.from;
    if (params.to) to.value = params.to;
    mode.value = params.mode === 'apply' && mayApply.value ? 'apply' : 'preview';
  }

  /** The body of `POST /pitwall/replay`; entries left empty mean every entry of the event. */
  const request = computed<ReplayRequest | null>(() => {
    if (!event.value) return null;
    return {
      event: event.value,
      ...(stage.value ? { stage: stage.value } : {}),
      ...(chosenEntries.value.length > 0 ? { entries: [...chosenEntries.value] } : {}),
      ...(from.value ? { from: from.value } : {}),
      ...(to.value ? { to: to.value } : {}),
      mode: mode.value,
    };
  });

  const rangeProblem = computed(() => (from.value && to.value && Date.parse(from.value) >= Date.parse(to.value) ? 'The range must end after it starts.' : null));

  const stageName = (id: string | null | undefined) => (id ? (stages.value.find((s) => s.id === id)?.name ?? null) : null);

  function guarded(work: () => Promise<void>): Promise<void> {
    return guardedCall(loading, error, work);
  }

  /** The event a stage belongs to, from the loaded events. */
  const eventOfStage = (id: string): string | null => events.value.find((e) => e.stages?.some((s) => s.id === id))?.id ?? null;

  return { eventOfStage, events, stages, entries, event, stage, chosenEntries, from, to, mode, mayApply, loading, error, request, rangeProblem, loadEvents, pickEvent, pickStage, showRequest, stageName };
}
