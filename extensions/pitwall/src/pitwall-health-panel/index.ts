import { definePanel } from '@directus/extensions-sdk';
import PanelComponent from './panel.vue';

/**
 * The `pitwall-health` panel: the processors' health as the race office needs it (positions per minute, lag, parked
 * outbox rows, dead letters), read from `GET /pitwall/status` every 5 s, in the warning colour when a figure is why
 * timing is unhealthy, and "processor silent since …" when no processor reports.
 */
export default definePanel({
  id: 'pitwall-health',
  name: 'Pitwall health',
  icon: 'monitor_heart',
  description: 'Positions per minute, processor lag, parked outbox rows and dead letters of the Pitwall processor.',
  component: PanelComponent,
  options: [],
  minWidth: 12,
  minHeight: 8,
});
