import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartDirectory, STREAM_MARKER } from '../../../src/exporter/part-directory.ts';
import { partitionName, partName } from '../../../src/exporter/part-files.ts';

describe('PartDirectory.claim', () => {
  const dirs: string[] = [];
  const newRoot = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pitwall-part-directory-'));
    dirs.push(dir);
    return join(dir, 'export');
  };
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('makes a new directory the export of its stream, and takes it again for that stream', async () => {
    const root = await newRoot();
    await new PartDirectory(root).claim('telemetry:teltonika');
    expect(await readFile(join(root, STREAM_MARKER), 'utf8')).toBe('telemetry:teltonika');
    await expect(new PartDirectory(root).claim('telemetry:teltonika')).resolves.toBeUndefined();
  });

  it("refuses a directory that holds another stream's export, naming both", async () => {
    const root = await newRoot();
    await new PartDirectory(root).claim('telemetry:teltonika');
    await expect(new PartDirectory(root).claim('telemetry:test')).rejects.toThrow(/holds the export of stream "telemetry:teltonika", not of "telemetry:test"/);
  });

  it('lets exporters started together claim a new directory for their stream, all of them', async () => {
    const root = await newRoot();
    const claims = Array.from({ length: 8 }, () => new PartDirectory(root).claim('telemetry:teltonika'));
    expect(await Promise.allSettled(claims)).toEqual(claims.map(() => ({ status: 'fulfilled', value: undefined })));
    expect(await readFile(join(root, STREAM_MARKER), 'utf8')).toBe('telemetry:teltonika');
    expect((await readdir(root)).filter((name) => name !== STREAM_MARKER)).toEqual([]);
  });

  it('gives a new directory claimed by two streams at once to one of them and refuses the other', async () => {
    const root = await newRoot();
    const streams = ['telemetry:a', 'telemetry:b', 'telemetry:a', 'telemetry:b'];
    const results = await Promise.allSettled(streams.map((stream) => new PartDirectory(root).claim(stream)));
    const owner = await readFile(join(root, STREAM_MARKER), 'utf8');
    const other = owner === 'telemetry:a' ? 'telemetry:b' : 'telemetry:a';
    expect(results.map((result) => result.status)).toEqual(streams.map((stream) => (stream === owner ? 'fulfilled' : 'rejected')));
    for (const result of results) if (result.status === 'rejected') expect(String(result.reason)).toContain(`not of "${other}"`);
  });

  it('claims a directory an earlier version filled without a marker, and recovery lists its parts, not the marker', async () => {
    const root = await newRoot();
    const range = { first: '1-0', last: '5-0' };
    await mkdir(join(root, partitionName('2026-03-14')), { recursive: true });
    await writeFile(join(root, partitionName('2026-03-14'), partName(range)), 'parquet');
    const directory = new PartDirectory(root);
    await directory.claim('telemetry:teltonika');
    const { written } = await directory.recover();
    expect(written.size).toBe(1);
    expect(written.has(range, '2026-03-14')).toBe(true);
  });
});
