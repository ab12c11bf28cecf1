import { defineOperationApp } from '@directus/extensions-sdk';

export default defineOperationApp({
  id: 'pitwall-signed-webhook',
  name: 'Pitwall signed webhook',
  icon: 'webhook',
  description: 'Send the race event, signed (HMAC-SHA256 with timestamp), to every active webhook subscription or one URL, with retries; attempts are logged in Webhook deliveries.',
  overview: ({ mode, url, max_attempts }) => [
    { label: 'Send to', text: mode === 'single' ? (url ?? '') : 'Webhook subscriptions' },
    { label: 'Attempts', text: String(max_attempts ?? 12) },
  ],
  options: [
    {
      field: 'mode',
      name: 'Send to',
      type: 'string',
      meta: {
        width: 'half',
        interface: 'select-dropdown',
        options: {
          choices: [
            { text: 'Every matching webhook subscription', value: 'subscriptions' },
            { text: 'One URL', value: 'single' },
          ],
        },
      },
      schema: { default_value: 'subscriptions' },
    },
    {
      field: 'event',
      name: 'Race event',
      type: 'string',
      meta: { width: 'half', interface: 'input', note: 'The race_events item; usually {{$trigger.payload}} of an items.create Event Hook on race_events.' },
      schema: { default_value: '{{$trigger.payload}}' },
    },
    {
      field: 'url',
      name: 'URL',
      type: 'string',
      meta: { width: 'full', interface: 'input', options: { placeholder: 'https://integrator.example/pitwall' }, conditions: [{ rule: { mode: { _neq: 'single' } }, hidden: true }] },
    },
    {
      field: 'secret',
      name: 'Secret',
      type: 'string',
      meta: { width: 'full', interface: 'input', options: { masked: true }, conditions: [{ rule: { mode: { _neq: 'single' } }, hidden: true }] },
    },
    { field: 'max_attempts', name: 'Max attempts', type: 'integer', meta: { width: 'half', interface: 'input', note: 'With the default delays, 12 attempts span the whole Give up after window.' }, schema: { default_value: 12 } },
    { field: 'timeout_ms', name: 'Timeout (ms)', type: 'integer', meta: { width: 'half', interface: 'input' }, schema: { default_value: 10000 } },
    { field: 'base_delay_ms', name: 'First retry delay (ms, half of it to all of it)', type: 'integer', meta: { width: 'half', interface: 'input' }, schema: { default_value: 1000 } },
    { field: 'max_delay_ms', name: 'Longest retry delay (ms)', type: 'integer', meta: { width: 'half', interface: 'input' }, schema: { default_value: 15000 } },
    {
      field: 'deadline_ms',
      name: 'Give up after (ms)',
      type: 'integer',
      meta: { width: 'half', interface: 'input', note: 'Each subscriber\'s retries end within this time of its first attempt (at most 300000).' },
      schema: { default_value: 60000 },
    },
  ],
});
