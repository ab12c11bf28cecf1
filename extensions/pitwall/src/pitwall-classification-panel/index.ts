import { definePanel } from '@directus/extensions-sdk';
import PanelComponent from './panel.vue';

/**
 * The `pitwall-classification` panel: a stage's classification (rank with ties, times, penalties, gaps, status) or
 * the event's overall one, read from `GET /pitwall/classification` every few seconds, with a print layout for the
 * official notice board.
 */
export default definePanel({
  id: 'pitwall-classification',
  name: 'Pitwall classification',
  icon: 'leaderboard',
  description: 'Live stage and overall classification of an event, printable.',
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
      field: 'defaultStage',
      name: 'Default stage',
      type: 'json',
      meta: {
        width: 'half',
        interface: 'collection-item-dropdown',
        options: { selectedCollection: 'stages', template: '{{name}}' },
        note: 'Shown when the dashboard opens; empty: the overall classification.',
      },
    },
  ],
  minWidth: 24,
  minHeight: 16,
});
