import type { AdminClient } from './directus-admin.ts';
import { ensureRole, type Action } from './ensure-role.ts';

export const RACE_CONTROL_ROLE = 'Race Control';

/** The race setup and timing a timekeeper reads (and the replay runs the replay panel lists). */
const reads = [
  'events', 'stages', 'entries', 'entry_devices', 'devices', 'geofences', 'waypoints', 'penalty_formulas',
  'entry_crossings', 'stage_results', 'entry_penalties', 'anomalies', 'race_events', 'replay_runs',
  // The Insights module shows to users who may read dashboards; a dashboard's panels are items of their own.
  'directus_dashboards', 'directus_panels',
];

/**
 * What a timekeeper does besides reading: add, change or lift a penalty; correct a crossing's time by hand, or add one
 * a dead tracker missed from a stopwatch time, or delete one set by hand (the hook re-times the result); start a replay preview and cancel it (apply mode is refused to all but admins by the bundle,
 * see replay-access.ts, as Directus 12 without a licence cannot limit a permission to some values or fields).
 */
const writes: { collection: string; action: Action }[] = [
  { collection: 'entry_penalties', action: 'create' },
  { collection: 'entry_penalties', action: 'update' },
  { collection: 'entry_penalties', action: 'delete' },
  { collection: 'entry_crossings', action: 'create' },
  { collection: 'entry_crossings', action: 'update' },
  // Only crossings set by hand: the bundle refuses a tracker's (timing-guard's crossingDeleteGuard).
  { collection: 'entry_crossings', action: 'delete' },
  { collection: 'replay_runs', action: 'create' },
  { collection: 'replay_runs', action: 'update' },
];

export function raceControlPermissions(): { collection: string; action: Action }[] {
  return [...reads.map((collection) => ({ collection, action: 'read' as const })), ...writes];
}

/**
 * The race office's role: app access, the Race Control dashboard, and what a timekeeper does (above), nothing more
 * (no schema, Flows, users, webhook subscriptions, replay apply or backfill). Its policy is Pitwall's and kept exact
 * by every setup, like the processor's; an admin gives its users more with a policy of their own attached to the role
 * or to a user, which setup leaves alone. The "Notify race control on anomaly" Flow notifies its users.
 */
export async function ensureRaceControlRole(client: AdminClient): Promise<string[]> {
  const { done } = await ensureRole(client, {
    name: RACE_CONTROL_ROLE,
    icon: 'support_agent',
    description: 'Race director, stewards and timekeepers: read timing, add or lift penalties, correct crossings, preview replays.',
    appAccess: true,
    permissions: raceControlPermissions(),
    exclusive: true,
    keepOtherPolicies: true,
  });
  return done;
}
