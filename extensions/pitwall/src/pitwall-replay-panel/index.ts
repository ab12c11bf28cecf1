import { definePanel } from '@directus/extensions-sdk';
import PanelComponent from './panel.vue';

export default definePanel({
  id: 'pitwall-replay',
  name: 'Pitwall replay',
  icon: 'history',
  description: 'Replay a stage through the timing pipeline and compare with the stored results.',
  component: PanelComponent,
  options: [],
  minWidth: 12,
  minHeight: 8,
});
