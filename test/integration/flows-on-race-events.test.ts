import { describe, expect, inject, it } from 'vitest';
import { flowReceivesRaceEvents } from '../support/flow-check.ts';

const stack = inject('stack');

describe('Flows on race_events', () => {
  it('a Flow built as an admin would in the UI runs when a race event is stored', async () => {
    await flowReceivesRaceEvents(stack);
  });
});
