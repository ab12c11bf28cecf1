import { describe, expect, it } from 'vitest';
import { replayRequestIssues, type WindowIssue } from '../../../../src/jobs/default-window.ts';

const issue = (path: PropertyKey[], message = 'wrong') => ({ code: 'custom', path, message });
const noStage: WindowIssue = { code: 'custom', path: ['stage'], message: 'no stage s1' };
const noEvent: WindowIssue = { code: 'custom', path: ['event'], message: 'no event e1' };

describe('replayRequestIssues: one answer naming every mistake of a replay request', () => {
  it('is the schema\'s issues when the stage or event exists', () => {
    const schema = [issue(['from']), issue([])];
    expect(replayRequestIssues([], schema, {})).toEqual(schema);
  });

  it('adds to a missing event what the caller gave wrong, not the range the event would have given', () => {
    const schema = [issue(['from']), issue(['to']), issue(['mode']), issue([])];
    expect(replayRequestIssues([noEvent], schema, { event: 'e1', from: 'yesterday', mode: 'fast' }).map((i) => i.path.join('.'))).toEqual(['event', 'from', 'mode']);
  });

  it('leaves out the event a missing stage would have given, unless the caller named one', () => {
    const schema = [issue(['event']), issue(['from']), issue(['mode'])];
    expect(replayRequestIssues([noStage], schema, { stage: 's1', mode: 'fast' }).map((i) => i.path.join('.'))).toEqual(['stage', 'mode']);
    expect(replayRequestIssues([noStage], schema, { stage: 's1', event: 42, mode: 'fast' }).map((i) => i.path.join('.'))).toEqual(['stage', 'event', 'mode']);
  });

  it('does not repeat the missing stage or event with the schema\'s words', () => {
    expect(replayRequestIssues([noStage, noEvent], [issue(['stage']), issue(['event'])], { stage: 's1', event: 'e1' })).toEqual([noStage, noEvent]);
  });

  it('names a stage or event that is no id, and not the range it would have given', () => {
    const schema = [issue(['stage'], 'Invalid UUID'), issue(['event']), issue(['from']), issue(['to']), issue([])];
    expect(replayRequestIssues([], schema, { stage: 'abc', mode: 'preview' }).map((i) => i.path.join('.'))).toEqual(['stage']);
    expect(replayRequestIssues([], [issue(['event'], 'Invalid UUID'), issue(['from']), issue(['mode'])], { event: 'abc', from: 'yesterday', mode: 'x' }).map((i) => i.path.join('.'))).toEqual(['event', 'from', 'mode']);
  });
});
