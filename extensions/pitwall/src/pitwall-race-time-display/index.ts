import { defineDisplay } from '@directus/extensions-sdk';
import DisplayComponent from './display.vue';
import { durationTypes, raceTimeText, timestampTypes, type RaceTimeDisplayOptions } from './race-time-text.ts';

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
const guessType = (value: unknown) => (typeof value === 'string' && Number.isNaN(Number(value)) ? 'timestamp' : 'integer');

const durationOptions = [
  {
    field: 'decimals',
    name: 'Decimals',
    type: 'string',
    meta: {
      width: 'half',
      interface: 'select-dropdown',
      options: {
        choices: [
          { text: 'As needed (1:42.5, 1:42.036)', value: 'trim' },
          { text: 'None (1:42)', value: '0' },
          { text: 'Tenths (1:42.0)', value: '1' },
          { text: 'Hundredths (1:42.04)', value: '2' },
          { text: 'Thousandths (1:42.036)', value: '3' },
        ],
      },
    },
    schema: { default_value: 'trim' },
  },
  {
    field: 'signed',
    name: 'Signed',
    type: 'boolean',
    meta: { width: 'half', interface: 'boolean', options: { label: 'Show "+" before positive values (gaps)' } },
    schema: { default_value: false },
  },
];

const timeOfDayOptions = [
  {
    field: 'decimals',
    name: 'Decimals',
    type: 'string',
    meta: {
      width: 'half',
      interface: 'select-dropdown',
      options: {
        choices: [
          { text: 'Milliseconds (14:03:27.118)', value: '3' },
          { text: 'Hundredths (14:03:27.11)', value: '2' },
          { text: 'Tenths (14:03:27.1)', value: '1' },
          { text: 'Seconds (14:03:27)', value: '0' },
        ],
      },
    },
    schema: { default_value: '3' },
  },
  {
    field: 'timeZone',
    name: 'Time zone',
    type: 'string',
    meta: { width: 'half', interface: 'input', options: { placeholder: 'local (the reader’s), or e.g. Africa/Casablanca' } },
  },
];

/**
 * `pitwall-race-time`: millisecond durations as race time ("1:42.036", "1:02:03.5", "+0:01.5" for gaps) and
 * timestamps as the time of day to the millisecond ("14:03:27.118"), the way timing sheets print them. Setup makes it
 * the display of Pitwall's duration fields and of crossing times.
 */
export default defineDisplay({
  id: 'pitwall-race-time',
  name: 'Race time',
  icon: 'timer',
  description: 'Milliseconds as race time (1:42.036); timestamps as time of day to the millisecond.',
  component: DisplayComponent,
  // Text for templates (related values, exports): the field's type when Directus gives it, else guessed from the value.
  handler: (value, options, context) =>
    raceTimeText(value, context?.field?.type ?? guessType(value), (options ?? {}) as RaceTimeDisplayOptions, localZone()),
  options: (context) => ((timestampTypes as readonly string[]).includes(String(context?.field?.type ?? '')) ? timeOfDayOptions : durationOptions) as never,
  types: [...durationTypes, ...timestampTypes],
});
