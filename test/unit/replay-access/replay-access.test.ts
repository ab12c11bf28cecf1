import { describe, expect, it } from 'vitest';
import { replayWriteRefusal } from '../../../extensions/pitwall/src/shared/replay-access.ts';

type Accountability = NonNullable<Parameters<typeof replayWriteRefusal>[2]>;

const raceControl = { user: 'u1', role: 'r1', admin: false, app: true } as unknown as Accountability;
const admin = { user: 'u0', role: 'r0', admin: true, app: true } as unknown as Accountability;

describe('who may write replay runs', () => {
  it('lets a non-admin queue a preview, and refuses an apply (or a run without a mode) with a reason', () => {
    expect(replayWriteRefusal('create', { status: 'queued', params: { mode: 'preview', event: 'e' } }, raceControl)).toBeNull();
    expect(replayWriteRefusal('create', { params: { mode: 'apply' } }, raceControl)).toMatch(/Only admins may start a replay in apply mode/);
    expect(replayWriteRefusal('create', { params: {} }, raceControl)).not.toBeNull();
    expect(replayWriteRefusal('create', {}, raceControl)).not.toBeNull();
    // params sent as a JSON string are read the same way.
    expect(replayWriteRefusal('create', { params: '{"mode":"apply"}' }, raceControl)).not.toBeNull();
    expect(replayWriteRefusal('create', { params: '{"mode":"preview"}' }, raceControl)).toBeNull();
  });

  it('refuses a non-admin a run that does not start queued (the job runner would not wait for it)', () => {
    expect(replayWriteRefusal('create', { status: 'succeeded', params: { mode: 'preview' } }, raceControl)).toMatch(/starts queued/);
  });

  it('lets a non-admin cancel a run and nothing else: not requeue it, not turn it into an apply', () => {
    expect(replayWriteRefusal('update', { status: 'cancelled', finished_at: '2026-11-28T10:00:00Z' }, raceControl)).toBeNull();
    expect(replayWriteRefusal('update', { status: 'cancelled' }, raceControl)).toBeNull();
    expect(replayWriteRefusal('update', { status: 'queued' }, raceControl)).not.toBeNull();
    expect(replayWriteRefusal('update', { params: { mode: 'apply' } }, raceControl)).not.toBeNull();
    expect(replayWriteRefusal('update', { status: 'cancelled', result: {} }, raceControl)).not.toBeNull();
  });

  it('does not limit admins or the system', () => {
    expect(replayWriteRefusal('create', { params: { mode: 'apply' } }, admin)).toBeNull();
    expect(replayWriteRefusal('update', { status: 'queued' }, admin)).toBeNull();
    expect(replayWriteRefusal('create', { params: { mode: 'apply' } }, null)).toBeNull();
    expect(replayWriteRefusal('update', { result: {} }, { user: null, role: null, admin: false } as unknown as Accountability)).toBeNull();
  });
});
