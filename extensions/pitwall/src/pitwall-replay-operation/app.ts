import { defineOperationApp } from '@directus/extensions-sdk';

export default defineOperationApp({
  id: 'pitwall-replay',
  name: 'Pitwall replay',
  icon: 'history',
  description: 'Re-run stored positions through the race timing pipeline (preview or apply).',
  overview: ({ mode, from, to }) => [
    { label: 'Mode', text: mode ?? 'preview' },
    { label: 'From', text: from ?? '' },
    { label: 'To', text: to ?? '' },
  ],
  options: [
    { field: 'event', name: 'Event', type: 'string', meta: { width: 'half', interface: 'input' } },
    {
      field: 'mode',
      name: 'Mode',
      type: 'string',
      meta: {
        width: 'half',
        interface: 'select-dropdown',
        options: { choices: [{ text: 'Preview (diff only)', value: 'preview' }, { text: 'Apply', value: 'apply' }] },
      },
      schema: { default_value: 'preview' },
    },
    { field: 'from', name: 'From', type: 'string', meta: { width: 'half', interface: 'input' } },
    { field: 'to', name: 'To', type: 'string', meta: { width: 'half', interface: 'input' } },
  ],
});
