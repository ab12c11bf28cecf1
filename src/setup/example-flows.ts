import { createFlow, createOperation, readFlows, updateFlow } from '@directus/sdk';
import type { AdminClient } from './directus-admin.ts';

/** One step of a Flow: its key, type, options, and the key of the step that follows on success. */
interface Step {
  key: string;
  name: string;
  type: string;
  options: Record<string, unknown>;
  next?: string;
}

interface ExampleFlow {
  name: string;
  icon: string;
  color: string;
  description: string;
  steps: Step[];
}

const onRaceEvent = { type: 'action', scope: ['items.create'], collections: ['race_events'] };

/**
 * The notification's recipients and text. Written in a script step rather than as templates in the notification's
 * options: a template prints a missing value as "undefined" (an anomaly of a tracker that carries no entry has no
 * race number, and an event stored by hand may have no tracker), where a notification should leave it out.
 */
const NOTICE_CODE = `module.exports = async function (data) {
\tconst event = data.$trigger.payload;
\tconst anomaly = event.payload || {};
\tconst tracker = anomaly.device_id || event.device_id;
\tconst who = [anomaly.race_number == null ? null : '#' + anomaly.race_number, tracker ? 'tracker ' + tracker : null].filter(Boolean).join(', ');
\tconst kind = String(anomaly.kind || 'anomaly').replace(/_/g, ' ');
\treturn {
\t\trecipients: data.race_control.map((user) => user.id),
\t\tsubject: 'Anomaly: ' + kind + (who ? ' (' + who + ')' : ''),
\t\tmessage: [anomaly.severity, kind, who ? 'for ' + who : null, 'at ' + (anomaly.started_at || event.occurred_at)].filter(Boolean).join(' '),
\t};
};`;

/**
 * Examples an admin switches on (inactive when provisioned: Directus 12 without a licence allows five active
 * Flows, and a notification Flow should be a decision). Both follow the steps of the admin guide in README.
 */
export const exampleFlows: ExampleFlow[] = [
  {
    name: 'Notify race control on anomaly',
    icon: 'report',
    color: '#E35169',
    description: 'Sends a Directus notification to every active user of the Race Control role when a live anomaly is detected.',
    steps: [
      {
        key: 'live_anomaly',
        name: 'Live anomalies only',
        type: 'condition',
        options: { filter: { $trigger: { payload: { _and: [{ type: { _eq: 'anomaly.detected' } }, { source: { _eq: 'live' } }] } } } },
        next: 'race_control',
      },
      {
        key: 'race_control',
        name: 'Users of Race Control',
        type: 'item-read',
        options: { collection: 'directus_users', permissions: '$full', query: { filter: { _and: [{ role: { name: { _eq: 'Race Control' } } }, { status: { _eq: 'active' } }] }, fields: ['id'], limit: -1 } },
        next: 'notice',
      },
      {
        key: 'notice',
        name: 'Their ids and the text',
        type: 'exec',
        options: { code: NOTICE_CODE },
        next: 'notify',
      },
      {
        key: 'notify',
        name: 'Notify',
        type: 'notification',
        options: {
          recipient: '{{notice.recipients}}',
          permissions: '$full',
          subject: '{{notice.subject}}',
          message: '{{notice.message}}',
          collection: 'race_events',
          item: '{{$trigger.key}}',
        },
      },
    ],
  },
  {
    name: 'Forward race events to an integrator',
    icon: 'webhook',
    color: '#3399FF',
    description: 'Signs each race event and posts it to every active webhook subscription, with retries; see Webhook Deliveries.',
    steps: [
      {
        key: 'not_replay',
        name: 'Skip replay and backfill',
        type: 'condition',
        options: { filter: { $trigger: { payload: { source: { _in: ['live', 'system'] } } } } },
        next: 'forward',
      },
      { key: 'forward', name: 'Signed webhook', type: 'pitwall-signed-webhook', options: { mode: 'subscriptions' } },
    ],
  },
  {
    name: 'Backfill decoded attributes when an IO mapping changes',
    icon: 'restart_alt',
    color: '#FFA439',
    description: "Re-decodes the last 7 days of the changed model's positions with its new IO mapping; see Backfill Runs.",
    steps: [
      {
        key: 'mapping_changed',
        name: 'IO mapping changed',
        type: 'condition',
        options: { filter: { $trigger: { payload: { type: { _eq: 'io_mapping.changed' } } } } },
        next: 'backfill',
      },
      {
        key: 'backfill',
        name: 'Backfill the last 7 days',
        type: 'pitwall-backfill',
        options: { model: '{{$trigger.payload.payload.model}}', window_hours: 168, wait: false },
      },
    ],
  },
];

/** Creates the example Flows that do not exist yet (by name), inactive; an existing one is never touched. */
export async function ensureExampleFlows(client: AdminClient): Promise<string[]> {
  const existing = new Set(((await client.request(readFlows({ fields: ['name'], limit: -1 }))) as { name: string }[]).map((f) => f.name));
  const done: string[] = [];
  for (const flow of exampleFlows) {
    if (existing.has(flow.name)) continue;
    const created = (await client.request(
      createFlow({ name: flow.name, icon: flow.icon, color: flow.color, description: flow.description, status: 'inactive', trigger: 'event', accountability: null, options: onRaceEvent } as never),
    )) as { id: string };
    const ids = new Map<string, string>();
    // Created last to first, so each step can name the one that follows it.
    for (const [i, step] of [...flow.steps].reverse().entries()) {
      const op = (await client.request(
        createOperation({
          flow: created.id,
          key: step.key,
          name: step.name,
          type: step.type,
          options: step.options,
          position_x: 19 + 18 * (flow.steps.length - 1 - i),
          position_y: 1,
          resolve: step.next ? ids.get(step.next) : null,
        } as never),
      )) as { id: string };
      ids.set(step.key, op.id);
    }
    await client.request(updateFlow(created.id, { operation: ids.get(flow.steps[0]!.key) } as never));
    done.push(`create inactive flow "${flow.name}"`);
  }
  return done;
}
