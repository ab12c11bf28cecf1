import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoRaceMs, demoRoundPlan, readDemoRound, writeDemoRound, type DemoSettings } from '../../../src/devstack/demo-stack.ts';
import { simulateRace } from '../../../src/simulator/race-schedule.ts';

const start = Date.parse('2026-12-07T22:00:00Z');

describe('demoRoundPlan (npm start without a running simulator)', () => {
  it('knows how long the simulator drives a round: first departure to the last car\'s last fix', () => {
    const race = simulateRace({ start });
    expect(demoRaceMs()).toBe(race.at(-1)!.ts - start);
    expect(demoRaceMs()).toBeGreaterThan(20 * 60_000);
  });

  it('resumes a round still being driven, also with no processor running: a restart in the middle keeps its timing', () => {
    for (const processorRunning of [false, true]) {
      expect(demoRoundPlan({ now: start + 9 * 60_000, roundStart: start, processorRunning })).toEqual({ kind: 'resume', start });
      expect(demoRoundPlan({ now: start, roundStart: start, processorRunning })).toEqual({ kind: 'resume', start });
    }
  });

  it('opens a new round from now when none was opened, or the last one has been driven to its end', () => {
    const now = start + demoRaceMs();
    expect(demoRoundPlan({ now, roundStart: null, processorRunning: false })).toEqual({ kind: 'new', start: now });
    expect(demoRoundPlan({ now, roundStart: start, processorRunning: false })).toEqual({ kind: 'new', start: now });
    // A round dated after now (the clock was set back) is no round being driven.
    expect(demoRoundPlan({ now, roundStart: now + 1, processorRunning: false })).toEqual({ kind: 'new', start: now });
  });

  it('clears nothing while a processor still times the round before: the simulator only loops', () => {
    expect(demoRoundPlan({ now: start + demoRaceMs(), roundStart: start, processorRunning: true })).toEqual({ kind: 'loop' });
    expect(demoRoundPlan({ now: start, roundStart: null, processorRunning: true })).toEqual({ kind: 'loop' });
  });
});

describe('the demo round file', () => {
  let dataDir: string;
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps the round\'s start across restarts, and reads a missing or unreadable file as no round', () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pitwall-round-'));
    const settings = { dataDir } as DemoSettings;
    expect(readDemoRound(settings)).toBeNull();
    writeDemoRound(settings, start);
    expect(readDemoRound(settings)).toBe(start);
    for (const text of ['{', '{"start": "yesterday"}', '[]', 'null']) {
      writeFileSync(join(dataDir, 'demo-round.json'), text);
      expect(readDemoRound(settings), text).toBeNull();
    }
  });
});
