import { defineInterface } from '@directus/extensions-sdk';
import InterfaceComponent from './interface.vue';

/**
 * `pitwall-race-duration`: a millisecond duration typed and shown as race time ("0:10", "1:30.250"), for penalty
 * amounts and stage times that officials type by hand. With Directus's number input a "10" penalty was 10 ms.
 */
export default defineInterface({
  id: 'pitwall-race-duration',
  name: 'Race time (duration)',
  icon: 'timer',
  description: 'Milliseconds typed as race time: 10 (seconds), 1:30.250, 1:02:03',
  component: InterfaceComponent,
  types: ['integer', 'bigInteger'],
  options: [
    {
      field: 'signed',
      name: 'Signed',
      type: 'boolean',
      meta: { width: 'half', interface: 'boolean', options: { label: 'Takes negative times (corrections, gaps)' } },
      schema: { default_value: false },
    },
    {
      field: 'maxMs',
      name: 'At most (ms)',
      type: 'integer',
      meta: { width: 'half', interface: 'input', note: 'The longest time the field takes, told under it when typed' },
    },
  ],
});
