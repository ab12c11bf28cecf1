import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dateOfPartition, partitionName, partName, rangeOfPart, TEMPORARY_SUFFIX, temporaryPartName, WrittenBatches, type IdRange } from './part-files.ts';

/**
 * The export directory on disk: Hive-style `date=YYYY-MM-DD` partitions of part files. A part is written under a
 * temporary name, flushed to disk, renamed, and the partition directory flushed, so that after a crash a part file is
 * either whole or absent.
 */
export class PartDirectory {
  constructor(readonly root: string) {}

  /**
   * Makes the directory the export of `stream`, or refuses one that is another stream's. Part files are named by
   * stream ids alone, so two streams' exports in one directory would take each other's entries for written ones.
   */
  async claim(stream: string): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const marker = join(this.root, STREAM_MARKER);
    let owner = await readMarker(marker);
    if (owner === null) {
      // Exporters started together (a standby beside the active one) claim a new directory at once: each writes its
      // own temporary file, and the link, which fails where the marker exists, lets one of them make it.
      const temporary = `${marker}.${randomUUID()}.tmp`;
      try {
        await writeFile(temporary, stream);
        await syncPath(temporary);
        await link(temporary, marker).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
        await syncPath(this.root);
      } finally {
        await rm(temporary, { force: true });
      }
      owner = await readMarker(marker);
    }
    if (owner !== stream) {
      throw new Error(`EXPORT_DIR ${this.root} holds the export of stream "${owner}", not of "${stream}" (${STREAM_MARKER}): give each stream a directory of its own`);
    }
  }

  /**
   * Removes what a crash left half-written and lists the batches whose parts exist. Run before any new write.
   * @returns the written batches, and how many temporary files were removed
   */
  async recover(): Promise<{ written: WrittenBatches; removed: number }> {
    await mkdir(this.root, { recursive: true });
    const written = new WrittenBatches();
    let removed = 0;
    for (const partition of await readdir(this.root, { withFileTypes: true })) {
      const date = partition.isDirectory() ? dateOfPartition(partition.name) : null;
      if (date === null) continue;
      const directory = join(this.root, partition.name);
      for (const file of await readdir(directory)) {
        if (file.endsWith(TEMPORARY_SUFFIX)) {
          await rm(join(directory, file), { force: true });
          removed += 1;
          continue;
        }
        const range = rangeOfPart(file);
        if (range) written.add(range, date);
      }
    }
    return { written, removed };
  }

  /** Where a part of this batch and date is written first; the writer creates the file. */
  async temporaryPath(range: IdRange, date: string): Promise<string> {
    const directory = join(this.root, partitionName(date));
    await mkdir(directory, { recursive: true });
    return join(directory, temporaryPartName(range));
  }

  /** Makes a finished temporary file the part itself: durable before it is visible under its name. */
  async publish(temporary: string, range: IdRange, date: string): Promise<string> {
    const directory = join(this.root, partitionName(date));
    const path = join(directory, partName(range));
    await syncPath(temporary);
    await rename(temporary, path);
    await syncPath(directory);
    return path;
  }
}

/** The file naming the stream whose export a directory holds. */
export const STREAM_MARKER = '.pitwall-stream';

/** The stream named by a directory's marker, or null where there is none yet. */
async function readMarker(marker: string): Promise<string | null> {
  return readFile(marker, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
}

async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
