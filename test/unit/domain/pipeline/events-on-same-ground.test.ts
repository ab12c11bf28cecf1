import { describe, expect, it } from 'vitest';
import type { Course } from '../../../../src/domain/course.ts';
import { courseOfEvents } from '../../../../src/domain/course-of-events.ts';
import { buildGeofenceIndex } from '../../../../src/domain/geofence/index.ts';
import { DevicePipeline } from '../../../../src/domain/pipeline/device-pipeline.ts';
import type { Fact } from '../../../../src/domain/pipeline/facts.ts';
import { defaultPipelineOptions, type EntryAssignment } from '../../../../src/domain/pipeline/pipeline-context.ts';
import { pipelineContexts } from '../../../../src/domain/pipeline/pipeline-contexts.ts';
import { speeding, testCourse, track } from './fixtures.ts';

/** The test course laid twice on the same road: event-1 (stage-1) and its sister event-2 (stage-2), same lines. */
function sisterCourses(): Course {
  const a = testCourse();
  const b: Course = {
    stages: a.stages.map((s) => ({ ...s, id: 'stage-2', eventId: 'event-2' })),
    gates: a.gates.map((g) => ({ ...g, id: `${g.id}-2`, stageId: 'stage-2' })),
    zones: [...a.zones.map((z) => ({ ...z, id: `${z.id}-2`, eventId: 'event-2', stageId: 'stage-2' })), { ...a.zones[0]!, id: 'event-wide-2', eventId: 'event-2', stageId: null }],
    waypoints: a.waypoints.map((w) => ({ ...w, id: `${w.id}-2`, stageId: 'stage-2' })),
  };
  return { stages: [...a.stages, ...b.stages], gates: [...a.gates, ...b.gates], zones: [...a.zones, ...b.zones], waypoints: [...a.waypoints, ...b.waypoints] };
}

const assignment = (entryId: string, eventId: string, over: Partial<EntryAssignment> = {}): EntryAssignment => ({ entryId, eventId, validFrom: null, validTo: null, role: 'primary', ...over });

const factsOf = (deviceId: string, contexts: ReturnType<typeof pipelineContexts>): Fact[] => {
  const pipeline = new DevicePipeline(contexts.get(deviceId)!);
  pipeline.pushAll(track({ speedKmh: 72, zoneKmh: 72 }));
  return Object.values(pipeline.state.facts);
};

describe('courseOfEvents', () => {
  it('keeps only the stages, lines, zones and waypoints of the given events', () => {
    const course = courseOfEvents(sisterCourses(), new Set(['event-2']));
    expect(course.stages.map((s) => s.id)).toEqual(['stage-2']);
    expect(course.gates.map((g) => g.id)).toEqual(['start-2', 'split-2', 'finish-2']);
    expect(course.zones.map((z) => z.id)).toEqual(['village-2', 'event-wide-2']);
    expect(course.waypoints.map((w) => w.id)).toEqual(['wp-1-2']);
  });

  it('does not mutate the course it is given', () => {
    const course = sisterCourses();
    const copy = structuredClone(course);
    courseOfEvents(course, new Set(['event-1']));
    expect(course).toEqual(copy);
  });
});

describe('two events on the same ground', () => {
  const source = {
    course: sisterCourses(),
    assignments: new Map([
      ['imei-a', [assignment('entry-a', 'event-1')]],
      ['imei-b', [assignment('entry-b', 'event-2')]],
    ]),
    speeding: new Map([
      ['event-1', speeding],
      ['event-2', speeding],
    ]),
  };
  const contexts = pipelineContexts(source, defaultPipelineOptions);

  it('gives each tracker only its own event course', () => {
    expect(contexts.get('imei-a')!.course.stages.map((s) => s.id)).toEqual(['stage-1']);
    expect(contexts.get('imei-b')!.course.stages.map((s) => s.id)).toEqual(['stage-2']);
  });

  it('times each entry only on the stage of its own event', () => {
    for (const [deviceId, entryId, stageId] of [['imei-a', 'entry-a', 'stage-1'], ['imei-b', 'entry-b', 'stage-2']] as const) {
      const facts = factsOf(deviceId, contexts);
      const timing = facts.filter((f) => f.type !== 'anomaly');
      expect(new Set(timing.map((f) => f.stageId))).toEqual(new Set([stageId]));
      expect(new Set(facts.map((f) => f.entryId))).toEqual(new Set([entryId]));
      expect(facts.filter((f) => f.type === 'stage_result')).toHaveLength(1);
      expect(facts.filter((f) => f.type === 'crossing').map((f) => f.type === 'crossing' && f.kind)).toEqual(['start', 'split', 'finish']);
    }
  });

  it('charges speeding only in the zones of the entry event (an event-wide zone of the sister event costs nothing)', () => {
    const a = factsOf('imei-a', contexts).filter((f) => f.type === 'penalty');
    expect(a).toHaveLength(1);
    expect(a[0]!.details).toMatchObject({ zone: 'village' });
    const b = factsOf('imei-b', contexts).filter((f) => f.type === 'penalty');
    expect(b.map((p) => p.details['zone']).sort()).toEqual(['event-wide-2', 'village-2']);
  });

  it('a tracker carried in both events at different times sees both courses but is timed only on the event it is in', () => {
    // Carried by entry-a (event-1) until the run, then by entry-b (event-2): the whole run belongs to event-2.
    const both = pipelineContexts(
      { ...source, assignments: new Map([['imei-x', [assignment('entry-a', 'event-1', { validTo: 0 }), assignment('entry-b', 'event-2', { validFrom: 0 })]]]) },
      defaultPipelineOptions,
    );
    expect(both.get('imei-x')!.course.stages).toHaveLength(2);
    const facts = factsOf('imei-x', both);
    expect(facts.filter((f) => f.type !== 'anomaly').every((f) => f.entryId === 'entry-b' && f.stageId === 'stage-2')).toBe(true);
    expect(facts.filter((f) => f.type === 'stage_result')).toHaveLength(1);
    expect(facts.filter((f) => f.type === 'anomaly').every((f) => f.entryId === 'entry-b')).toBe(true);
  });

  it('a tracker carried in both events at once is timed on each, as each event\'s entry, whichever assignment comes first', () => {
    for (const order of [['event-1', 'event-2'], ['event-2', 'event-1']]) {
      const entries = order.map((event) => assignment(event === 'event-1' ? 'entry-a' : 'entry-b', event));
      const both = pipelineContexts({ ...source, assignments: new Map([['imei-x', entries]]) }, defaultPipelineOptions);
      const facts = factsOf('imei-x', both);
      for (const [entryId, stageId, zones] of [['entry-a', 'stage-1', ['village']], ['entry-b', 'stage-2', ['event-wide-2', 'village-2']]] as const) {
        const own = facts.filter((f) => f.type !== 'anomaly' && f.entryId === entryId);
        expect(own.every((f) => f.stageId === stageId), order.join()).toBe(true);
        expect(own.filter((f) => f.type === 'crossing').map((f) => f.type === 'crossing' && f.kind)).toEqual(['start', 'split', 'finish']);
        expect(own.filter((f) => f.type === 'stage_result')).toHaveLength(1);
        expect(own.filter((f) => f.type === 'penalty').map((p) => p.details['zone']).sort()).toEqual(zones);
      }
    }
  });

  it('shares one geofence index between trackers of the same events', () => {
    const more = pipelineContexts({ ...source, assignments: new Map([...source.assignments, ['imei-c', [assignment('entry-c', 'event-1')]]]) }, defaultPipelineOptions);
    expect(more.get('imei-c')!.index).toBe(more.get('imei-a')!.index);
    expect(more.get('imei-c')!.index).not.toBe(more.get('imei-b')!.index);
    expect(buildGeofenceIndex(more.get('imei-a')!.course).size).toBe(more.get('imei-a')!.index.size);
  });
});
