import { createDashboard, readDashboards } from '@directus/sdk';
import { directusMessage } from './apply-schema.ts';
import type { AdminClient } from './directus-admin.ts';

export const RACE_CONTROL_DASHBOARD = 'Race Control';

/** The event (and stage) the classification, live map and replay panels open on (the demo's, with `--demo`). */
export interface DashboardDefaults {
  event: string;
  stage: string | null;
}

/** What the collection-item-dropdown interface of the panels' options stores, so an admin sees it when editing. */
const itemOption = (collection: string, key: string) => ({ key, collection });

/**
 * The panels of the Race Control dashboard, on Directus's Insights grid (positions from 1, 20 px a unit): the
 * classification across the top (its nine columns need the width), the live map below it with health and the latest
 * anomalies beside the map, the replay panel last. 48 units wide, so that it fits a 1366-pixel laptop beside
 * Directus's navigation with the sidebar folded: 68 wide, the sidebar covered health and anomalies below about 1,600
 * pixels. The panels
 * of the bundle read through Pitwall's endpoint (the live map's positions come from the gateway); `list` is Directus's
 * own panel (options: collection, limit, sortField, sortDirection, displayTemplate, linkToItem, filter; the same on
 * 11.17 and 12.4).
 */
export function raceControlPanels(defaults: DashboardDefaults | null): Record<string, unknown>[] {
  const race = defaults
    ? { defaultEvent: itemOption('events', defaults.event), ...(defaults.stage ? { defaultStage: itemOption('stages', defaults.stage) } : {}) }
    : {};
  return [
    {
      name: 'Stage classification',
      icon: 'leaderboard',
      type: 'pitwall-classification',
      show_header: true,
      note: 'Live: rank, times, penalties, gaps. Print for the notice board.',
      position_x: 1, position_y: 1, width: 48, height: 36,
      options: race,
    },
    {
      name: 'Pitwall health',
      icon: 'monitor_heart',
      type: 'pitwall-health',
      show_header: true,
      note: 'The processor: positions per minute, lag, parked outbox rows, dead letters.',
      position_x: 33, position_y: 37, width: 16, height: 19,
      options: {},
    },
    {
      name: 'Recent anomalies',
      icon: 'report',
      type: 'list',
      show_header: true,
      note: 'Newest first.',
      position_x: 33, position_y: 56, width: 16, height: 15,
      options: {
        collection: 'anomalies',
        limit: 15,
        sortField: 'started_at',
        sortDirection: 'desc',
        // The crew's name last: on a narrow panel it is what gets cut, the race number already says who.
        displayTemplate: '{{severity}} · {{kind}} · #{{entry.race_number}} · {{started_at}} · {{entry.name}}',
        linkToItem: false,
      },
    },
    {
      name: 'Live map',
      icon: 'map',
      type: 'pitwall-live-map',
      show_header: true,
      note: 'The cars on the course, live from the gateway; a demo playback of a stored stage.',
      position_x: 1, position_y: 37, width: 32, height: 34,
      // The event only: the playback's stage is picked in the panel.
      options: defaults ? { defaultEvent: itemOption('events', defaults.event) } : {},
    },
    {
      name: 'Replay',
      icon: 'history',
      type: 'pitwall-replay',
      show_header: true,
      note: 'Preview a replay of the stage on the stored positions.',
      position_x: 1, position_y: 71, width: 48, height: 30,
      options: race,
    },
  ];
}

/**
 * The Insights dashboard timekeepers open on race day. Created once: when a dashboard of that name exists, it and its
 * panels are left exactly as they are, so an admin's changes (moved panels, other defaults, removed panels) survive
 * every setup. Renamed, it is created again.
 */
export async function ensureRaceControlDashboard(client: AdminClient, defaults: DashboardDefaults | null): Promise<string[]> {
  const existing = await client.request(readDashboards({ filter: { name: { _eq: RACE_CONTROL_DASHBOARD } }, fields: ['id'], limit: 1 } as never));
  if ((existing as unknown[]).length > 0) return [];
  try {
    // With its panels in one request (one transaction): a failure leaves no empty dashboard that setup would then keep.
    await client.request(
      createDashboard({
        name: RACE_CONTROL_DASHBOARD,
        icon: 'sports_score',
        color: '#E35169',
        note: 'Classification, live map, replay, anomalies and health for race day.',
        panels: raceControlPanels(defaults),
      } as never),
    );
  } catch (error) {
    throw new Error(`create the ${RACE_CONTROL_DASHBOARD} dashboard failed: ${directusMessage(error)}`, { cause: error });
  }
  return [`create dashboard ${RACE_CONTROL_DASHBOARD}`];
}
