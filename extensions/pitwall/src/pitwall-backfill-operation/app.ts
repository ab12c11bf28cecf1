import { defineOperationApp } from '@directus/extensions-sdk';
import { half } from '../shared/option-meta';

export default defineOperationApp({
  id: 'pitwall-backfill',
  name: 'Pitwall backfill',
  icon: 'restart_alt',
  description: 'Decode the stored raw IO of past positions again with the current IO mapping.',
  overview: ({ model, devices, from, to, window_hours }) => [
    { label: 'Scope', text: model ? `model ${model}` : `devices ${devices ?? ''}` },
    { label: 'Range', text: from || to ? `${from ?? '…'} → ${to ?? '…'}` : `last ${window_hours ?? '?'} h` },
  ],
  options: [
    { field: 'model', name: 'Device model', type: 'string', meta: half('input', { note: 'device_models id, e.g. {{$trigger.payload.payload.model}}' }) },
    { field: 'devices', name: 'Devices', type: 'string', meta: half('input', { note: 'Tracker IMEIs, comma separated (instead of a model)' }) },
    { field: 'from', name: 'From', type: 'string', meta: half('input', { note: 'ISO date-time (or leave From and To empty and set a rolling window)' }) },
    { field: 'to', name: 'To', type: 'string', meta: half('input', { note: 'ISO date-time' }) },
    { field: 'window_hours', name: 'Rolling window (hours)', type: 'integer', meta: half('input', { note: 'Without From/To: the last N hours up to now' }) },
    { field: 'wait', name: 'Wait for the end', type: 'boolean', meta: half('boolean'), schema: { default_value: false } },
    { field: 'wait_timeout_s', name: 'Wait at most (s)', type: 'integer', meta: half('input'), schema: { default_value: 300 } },
  ],
});
