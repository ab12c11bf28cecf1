import { definePanel } from '@directus/extensions-sdk';
import { DEFAULT_STALE_SECONDS } from './fleet';
import PanelComponent from './panel.vue';

/**
 * The `pitwall-live-map` panel: an event's cars moving on its course (gates, waypoints, speed zones), fed by the live
 * gateway over a WebSocket with the signed-in user's Directus session, stale trackers greyed out, a car's last fix
 * and stage state on click, and a demo playback of a stored stage on the same connection.
 */
export default definePanel({
  id: 'pitwall-live-map',
  name: 'Pitwall live map',
  icon: 'map',
  description: 'Live positions of an event’s cars on its course, with a demo playback of a stored stage.',
  component: PanelComponent,
  options: [
    {
      field: 'defaultEvent',
      name: 'Default event',
      type: 'json',
      meta: {
        width: 'half',
        interface: 'collection-item-dropdown',
        options: { selectedCollection: 'events', template: '{{name}}' },
        note: 'Shown when the dashboard opens (with a single event, that one).',
      },
    },
    {
      field: 'staleSeconds',
      name: 'Grey out after (s)',
      type: 'integer',
      meta: { width: 'half', interface: 'input', options: { min: 1 }, note: 'A car without a fix for this long is greyed out.' },
      schema: { default_value: DEFAULT_STALE_SECONDS },
    },
    {
      field: 'gatewayUrl',
      name: 'Gateway URL',
      type: 'string',
      meta: {
        width: 'full',
        interface: 'input',
        options: { placeholder: 'ws://<this host>:8090/ws-live' },
        note: 'Empty: PITWALL_LIVE_URL of Directus, else port 8090 of the host name this page is on (the session cookie goes to any port of it).',
      },
    },
  ],
  minWidth: 24,
  minHeight: 18,
});
