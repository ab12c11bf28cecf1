import type { Accountability } from '@directus/types';

/**
 * Who may do what with a replay run beyond what Directus permissions say. Race Control may create replay runs (to
 * preview a stage) and update them (to cancel one), but a replay in apply mode rewrites timing, which only admins
 * may: Directus 12 without a licence has no custom permission rules to say "only mode preview", so the bundle says
 * it, for every way a run is written (the endpoint, a Flow's operation, the panel, `POST /items/replay_runs`).
 * The system (no user: the bundle itself, a Flow without accountability) is not limited.
 */
export type ReplayWrite = 'create' | 'update';

/** What a non-admin may change in a run: cancel it (cancelRun writes these two fields). */
const cancelFields = new Set(['status', 'finished_at']);

const isPerson = (accountability: Accountability | null | undefined) => Boolean(accountability?.user) && accountability?.admin !== true;

const modeOf = (params: unknown): unknown => {
  if (typeof params === 'string') {
    try {
      return (JSON.parse(params) as { mode?: unknown })?.mode;
    } catch {
      return undefined;
    }
  }
  return params && typeof params === 'object' ? (params as { mode?: unknown }).mode : undefined;
};

/** Whether this caller may start a replay in apply mode: an admin, or the system (the panel offers it only then). */
export function mayApplyReplay(accountability: Accountability | null | undefined): boolean {
  return !isPerson(accountability);
}

/** Why this write of a replay run is refused (the 403's reason), or null when it may go ahead. */
export function replayWriteRefusal(write: ReplayWrite, payload: unknown, accountability: Accountability | null | undefined): string | null {
  if (!isPerson(accountability)) return null;
  const row = payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : {};
  switch (write) {
    case 'create':
      if (modeOf(row['params']) !== 'preview') return 'Only admins may start a replay in apply mode (it rewrites timing); start a preview instead.';
      if (row['status'] !== undefined && row['status'] !== 'queued') return 'A replay run starts queued.';
      return null;
    case 'update':
      if (Object.keys(row).every((field) => cancelFields.has(field)) && row['status'] === 'cancelled') return null;
      return 'Only admins may change a replay run other than cancelling it.';
    default: {
      const never: never = write;
      throw new Error(`unknown replay write ${String(never)}`);
    }
  }
}
