import { defineInterface } from '@directus/extensions-sdk';
import InterfaceComponent from './interface.vue';

/**
 * `pitwall-precise-time`: a timestamp typed and shown to the millisecond in local time, for crossing times that a
 * timekeeper corrects by hand (Directus's date-time picker stops at seconds and stores .000).
 */
export default defineInterface({
  id: 'pitwall-precise-time',
  name: 'Time to the millisecond',
  icon: 'timer',
  description: 'Local date and time typed to the millisecond: 2026-12-06 20:35:33.842',
  component: InterfaceComponent,
  types: ['timestamp', 'dateTime'],
  options: null,
});
