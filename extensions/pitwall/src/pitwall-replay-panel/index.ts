import { definePanel } from '@directus/extensions-sdk';
import PanelComponent from './panel.vue';

/**
 * The `pitwall-replay` panel (CONTRACTS section 5): pick event, stage, entries, range and mode, start a replay run
 * through `POST /pitwall/replay`, follow its progress, then read the diff against the stored timing and see the
 * replayed tracks with their crossings. Earlier runs can be reopened.
 */
export default definePanel({
  id: 'pitwall-replay',
  name: 'Pitwall replay',
  icon: 'history',
  description: 'Replay a stage through the timing pipeline and compare with the stored results.',
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
        note: 'Picked when the dashboard opens.',
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
        note: 'Picked when the dashboard opens; its window becomes the range.',
      },
    },
  ],
  minWidth: 24,
  minHeight: 18,
});
