import { describe, expect, it } from 'vitest';
import {
  classificationTitle,
  clockTime,
  dateTime,
  gapTime,
  optionId,
  OVERALL,
  penaltyTime,
  raceNumberLabel,
  raceTime,
  rankLabel,
  stageChoices,
  stagesFinishedLabel,
} from '../../../extensions/pitwall/src/pitwall-classification-panel/view.ts';

describe('the classification panel', () => {
  it('shows a shared rank as a tie, and no rank for the unranked', () => {
    expect([rankLabel(1, false), rankLabel(2, true), rankLabel(4, false), rankLabel(null, false)]).toEqual(['1', '=2', '4', '']);
  });

  it('writes stage times to the millisecond, gaps signed, penalties as round as they are', () => {
    expect([raceTime(102_036), raceTime(3_723_500), raceTime(100_000), raceTime(null)]).toEqual(['1:42.036', '1:02:03.500', '1:40.000', '—']);
    expect([gapTime(1_500), gapTime(0), gapTime(65_432), gapTime(null)]).toEqual(['+0:01.500', '+0:00.000', '+1:05.432', '—']);
    expect([penaltyTime(60_000), penaltyTime(12_500), penaltyTime(52_573), penaltyTime(0), penaltyTime(null)]).toEqual(['+1:00.000', '+0:12.500', '+0:52.573', '—', '—']);
  });

  it('labels numbers, stages finished and the stage picker', () => {
    expect([raceNumberLabel(101), raceNumberLabel(null)]).toEqual(['#101', '']);
    expect([stagesFinishedLabel(1, 2), stagesFinishedLabel(0, 1)]).toEqual(['1 of 2 stages', '0 of 1 stage']);
    expect(stageChoices([{ id: 's1', name: 'SS1 Erg Chebbi' }, { id: 's2', name: null }])).toEqual([
      { text: 'Overall', value: OVERALL },
      { text: 'SS1 Erg Chebbi', value: 's1' },
      { text: 's2', value: 's2' },
    ]);
  });

  it('titles a stage classification and an overall one with the stages it counts', () => {
    expect(classificationTitle({ kind: 'stage', stage: { name: 'SS1 Erg Chebbi' } })).toBe('SS1 Erg Chebbi: stage classification');
    expect(classificationTitle({ kind: 'overall', stages: [{ name: 'SS1' }, { name: 'SS2' }] })).toBe('Overall classification after SS1, SS2');
    expect(classificationTitle({ kind: 'overall', stages: [] })).toBe('Overall classification: no stage run yet');
  });

  it('shows times of day in the viewer’s zone to the second', () => {
    const local = new Date(2026, 2, 1, 9, 5, 7, 999);
    expect(clockTime(local)).toBe('09:05:07');
    expect(clockTime(local.toISOString())).toBe('09:05:07');
    expect(dateTime(local.getTime())).toBe('2026-03-01 09:05:07');
    expect([clockTime(null), clockTime('not a time'), dateTime(undefined)]).toEqual(['', '', '']);
  });

  it('reads a panel option as an id, whether a uuid or what a collection-item-dropdown stores', () => {
    expect([optionId(' abc '), optionId({ key: 'abc', collection: 'events' }), optionId(''), optionId(null), optionId({})]).toEqual(['abc', 'abc', null, null, null]);
  });
});
