import { defineOperationApp } from '@directus/extensions-sdk';
import { half } from '../shared/option-meta';

export default defineOperationApp({
  id: 'pitwall-replay',
  name: 'Pitwall replay',
  icon: 'history',
  description: 'Re-run stored positions through the race timing pipeline: preview a diff, or apply it.',
  overview: ({ mode, stage, event, from, to, wait }) => [
    { label: 'Mode', text: mode ?? 'preview' },
    { label: 'Scope', text: stage ? `stage ${stage}` : event ? `event ${event}` : 'entries / devices' },
    { label: 'Range', text: from || to ? `${from ?? '…'} → ${to ?? '…'}` : 'the stage window' },
    { label: 'Wait', text: wait ? 'until done' : 'no' },
  ],
  options: [
    { field: 'event', name: 'Event', type: 'string', meta: half('input', { note: 'Event id (uuid); may be a template such as {{$trigger.body.event}}' }) },
    { field: 'stage', name: 'Stage', type: 'string', meta: half('input', { note: 'Stage id: only its results are compared and applied; its window is the default range' }) },
    { field: 'entries', name: 'Entries', type: 'string', meta: half('input', { note: 'Entry ids, comma separated (empty: all of the event)' }) },
    { field: 'devices', name: 'Devices', type: 'string', meta: half('input', { note: 'Tracker IMEIs, comma separated' }) },
    { field: 'from', name: 'From', type: 'string', meta: half('input', { note: 'ISO date-time; empty: the stage or event start' }) },
    { field: 'to', name: 'To', type: 'string', meta: half('input', { note: 'ISO date-time; empty: the stage or event end' }) },
    {
      field: 'mode',
      name: 'Mode',
      type: 'string',
      meta: half('select-dropdown', { options: { choices: [{ text: 'Preview (diff only, emits nothing)', value: 'preview' }, { text: 'Apply (replace timing)', value: 'apply' }] } }),
      schema: { default_value: 'preview' },
    },
    { field: 'wait', name: 'Wait for the end', type: 'boolean', meta: half('boolean'), schema: { default_value: false } },
    { field: 'wait_timeout_s', name: 'Wait at most (s)', type: 'integer', meta: half('input'), schema: { default_value: 300 } },
    { field: 'geofences', name: 'Candidate layout', type: 'json', meta: { width: 'full', interface: 'input-code', options: { language: 'json' }, note: 'Optional geofence rows (GeoJSON geometry) used instead of the stored ones' } },
  ],
});
