import type { AdminClient } from './directus-admin.ts';
import { ensureRole } from './ensure-role.ts';

/** Who the "Notify race control on anomaly" Flow notifies: people in the race office, reading timing. */
const reads = ['events', 'stages', 'entries', 'entry_crossings', 'stage_results', 'entry_penalties', 'anomalies', 'race_events'];

export async function ensureRaceControlRole(client: AdminClient): Promise<string[]> {
  const { done } = await ensureRole(client, {
    name: 'Race Control',
    icon: 'support_agent',
    description: 'Race director and stewards: read timing and anomalies, receive anomaly notifications.',
    appAccess: true,
    permissions: reads.map((collection) => ({ collection, action: 'read' as const })),
  });
  return done;
}
