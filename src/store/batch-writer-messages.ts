/** What BatchWriter and its thread (batch-writer-thread.ts) say to each other. Types only. */

export interface WriterOptions {
  databaseUrl: string;
  application: string;
  statementTimeoutMs: number;
}

/** A COPY into `target` (`table (columns)`) of whole lines of COPY text: bytes[start, end) of the write. */
export interface CopySpan {
  target: string;
  start: number;
  end: number;
}

export type FromMain =
  /** The COPYs in order, then the statements, in one transaction. */
  | { kind: 'write'; id: number; bytes: SharedArrayBuffer; copies: CopySpan[]; statements: { sql: string; values: string[] }[] }
  | { kind: 'decide'; id: number; commit: boolean }
  | { kind: 'close' };

export type ToMain =
  /** Everything is written, the transaction is open: the thread waits for a decide. */
  | { kind: 'written'; id: number }
  /** `duplicate`: a COPY met a key that is there already; nothing was written. */
  | { kind: 'done'; id: number; outcome: 'committed' | 'rolled-back' | 'duplicate' }
  | { kind: 'failed'; id: number; error: ThreadError };

/** An error as it can cross threads: `database` when Postgres raised it, with its fields (code, detail, ...). */
export interface ThreadError {
  message: string;
  database: boolean;
  fields: Record<string, string>;
}
