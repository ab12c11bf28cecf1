/**
 * The load the processor and replay benches share: the demo race driven at once by copies of every demo tracker
 * (IMEI + 3 digits), registered through Directus as an organiser would, and its fixes as COPY text for positions.
 */
import { createItems } from '@directus/sdk';
import { demoEntries, demoId } from '../src/demo/demo-race.ts';
import type { Position } from '../src/domain/position.ts';
import { simulateRace } from '../src/simulator/race-schedule.ts';
import { copyChunks } from '../src/store/copy-rows.ts';
import type { Db } from '../src/store/db.ts';
import { positionCopyLine } from '../src/store/positions.ts';
import { admin } from '../test/support/directus-client.ts';
import type { TestStack } from '../test/support/stack.ts';

export const demoRace = (start: number) => simulateRace({ start });
/** The tracker id of one copy of a demo device; copy 0 is the demo device itself. */
export const replicaId = (imei: string, copy: number) => (copy === 0 ? imei : `${imei}${String(copy).padStart(3, '0')}`);
export const copiesFor = (count: number, raceLength: number) => Math.ceil(count / raceLength);

/** `count` distinct (device, ts) fixes in GPS-time order: each fix of the race, then the same fix of each copy. */
export function* replicatedFixes(fixesOfRace: readonly Position[], count: number): Generator<Position> {
  const copies = copiesFor(count, fixesOfRace.length);
  let n = 0;
  for (const fix of fixesOfRace) {
    for (let copy = 0; copy < copies && n < count; copy++, n++) yield copy === 0 ? fix : { ...fix, deviceId: replicaId(fix.deviceId, copy) };
  }
}

/**
 * Registers every replicated tracker the way an organiser would, through Directus: an FMB920 device, an entry in
 * the demo event, and the entry_devices link, so the processor decodes and races each of them. Returns the IMEIs of
 * every device the fixes use, the demo's own included.
 */
export async function registerReplicas(stack: TestStack, copies: number): Promise<string[]> {
  const client = await admin(stack);
  const model = demoId('model:FMB920');
  const event = demoId('event');
  const replicas = Array.from({ length: copies - 1 }, (_, i) => i + 1).flatMap((copy) =>
    demoEntries.map((entry) => ({ entry, copy, imei: replicaId(entry.imei, copy), id: demoId(`bench:${copy}:${entry.raceNumber}`) })),
  );
  // Chunks keep each request small enough for Directus's default body limit.
  for (let i = 0; i < replicas.length; i += 200) {
    const chunk = replicas.slice(i, i + 200);
    await client.request(createItems('devices', chunk.map((r) => ({ id: demoId(`bench-device:${r.imei}`), imei: r.imei, name: `FMB920 bench ${r.imei}`, model }))));
    await client.request(
      createItems('entries', chunk.map((r) => ({ id: r.id, event, race_number: r.copy * 1000 + r.entry.raceNumber, name: `${r.entry.name} (bench ${r.copy})`, category: 'T1' }))),
    );
    await client.request(
      createItems('entry_devices', chunk.map((r) => ({ id: demoId(`bench-entry-device:${r.imei}`), entry: r.id, device: demoId(`bench-device:${r.imei}`), valid_from: null, valid_to: null }))),
    );
  }
  return [...demoEntries.map((e) => e.imei), ...replicas.map((r) => r.imei)];
}

/** When the demo stages open: the replicated race starts an hour later, well inside their window. */
export async function raceStart(db: Db): Promise<number> {
  const [stage] = await db('stages').where({ event: demoId('event') }).min<{ opens_at: Date }[]>('opens_at as opens_at');
  if (!stage?.opens_at) throw new Error('the demo event has no stages');
  return new Date(stage.opens_at).getTime() + 3_600_000;
}

/** COPY text (POSITION_COLUMNS) of the fixes, in chunks of about 64 KB. */
export const positionsCopyText = (source: Iterable<Position>): Generator<string> => copyChunks(source, positionCopyLine);
