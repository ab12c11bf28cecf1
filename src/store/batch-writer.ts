import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { DatabaseError } from 'pg';
import type { FromMain, ThreadError, ToMain, WriterOptions } from './batch-writer-messages.ts';
import { numbered, type Statement } from './copy-rows.ts';

/** A COPY of whole lines of COPY text into `target` (`table (columns)`), in pieces. */
export interface CopyText {
  target: string;
  pieces: readonly Buffer[];
}

interface Waiting {
  resolve: (written: boolean) => void;
  reject: (error: unknown) => void;
  fence?: () => Promise<void>;
  fenceError?: unknown;
}

/**
 * Writes a large batch (a backlog draining) in one transaction on a thread of its own (batch-writer-thread.ts). On
 * the processor's thread, Postgres waited for that thread at every step of a batch (after BEGIN, between the COPYs,
 * for the rest of a COPY's bytes) while it prepared the next batch or collected garbage: in the processor bench the
 * batch's connection sat waiting for its client about a third of the time. The thread answers at once; the
 * processor's thread is asked only whether to commit (`fence`, just before the COMMIT).
 *
 * A thread that dies fails the batch in hand, which is then retried whole; the next batch starts a new thread.
 */
export class BatchWriter {
  private thread: Worker | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private sequence = 0;
  /**
   * The bytes of the batch being written, shared with the thread and reused batch after batch: no megabyte a batch
   * to allocate here and to collect there.
   */
  private shared = new SharedArrayBuffer(0);

  constructor(private readonly options: WriterOptions) {}

  /**
   * Resolves true once committed; false when a row's key is there already, having written nothing (the caller
   * stores the batch keyed then). Rejects with Postgres's error (a DatabaseError, for isRowRefusal), with the
   * fence's (nothing committed), or with the thread's end.
   */
  write(copies: readonly CopyText[], statements: readonly Statement[], fence?: () => Promise<void>): Promise<boolean> {
    const id = ++this.sequence;
    const thread = this.started();
    const size = copies.reduce((sum, { pieces }) => pieces.reduce((n, piece) => n + piece.byteLength, sum), 0);
    // A batch still being written holds the shared bytes (the processor writes one at a time): one of its own then.
    if (this.waiting.size > 0 || this.shared.byteLength < size) this.shared = new SharedArrayBuffer(Math.max(size, 2 * this.shared.byteLength));
    const bytes = new Uint8Array(this.shared);
    let offset = 0;
    const spans = copies.map(({ target, pieces }) => {
      const start = offset;
      for (const piece of pieces) {
        bytes.set(piece, offset);
        offset += piece.byteLength;
      }
      return { target, start, end: offset };
    });
    const message: FromMain = {
      kind: 'write',
      id,
      bytes: this.shared,
      copies: spans,
      statements: statements.map(({ sql, bindings }) => ({ sql: numbered(sql), values: bindings })),
    };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, fence });
      thread.postMessage(message);
    });
  }

  /** Lets the thread finish what it holds and close its connection. */
  async close(): Promise<void> {
    const thread = this.thread;
    if (!thread) return;
    const exited = once(thread, 'exit');
    thread.postMessage({ kind: 'close' } satisfies FromMain);
    const timer = setTimeout(() => void thread.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private started(): Worker {
    if (this.thread) return this.thread;
    const thread = new Worker(new URL('./batch-writer-thread.ts', import.meta.url), { workerData: this.options });
    // The processor's own handles keep it alive; a thread left open must not.
    thread.unref();
    thread.on('message', (message: ToMain) => this.heard(thread, message));
    thread.on('error', (error) => this.stopped(thread, error));
    thread.on('exit', (code) => this.stopped(thread, new Error(`the batch writer thread ended (exit code ${code})`)));
    this.thread = thread;
    return thread;
  }

  /** Tells the thread, holding the batch's transaction open, whether to commit it: what the fence says. */
  private async decide(thread: Worker, id: number, waiting: Waiting): Promise<void> {
    let commit = true;
    try {
      await waiting.fence?.();
    } catch (error) {
      waiting.fenceError = error;
      commit = false;
    }
    thread.postMessage({ kind: 'decide', id, commit } satisfies FromMain);
  }

  private heard(thread: Worker, message: ToMain): void {
    const waiting = this.waiting.get(message.id);
    if (!waiting) return;
    if (message.kind === 'written') {
      void this.decide(thread, message.id, waiting);
      return;
    }
    this.waiting.delete(message.id);
    if (message.kind === 'failed') waiting.reject(asError(message.error));
    else if (message.outcome === 'rolled-back') waiting.reject(waiting.fenceError);
    else waiting.resolve(message.outcome === 'committed');
  }

  private stopped(thread: Worker, error: unknown): void {
    if (this.thread !== thread) return;
    this.thread = null;
    for (const waiting of this.waiting.values()) waiting.reject(error);
    this.waiting.clear();
  }
}

/** The thread's error as the processor expects it: Postgres's as a DatabaseError with its code and detail. */
function asError({ message, database, fields }: ThreadError): Error {
  return Object.assign(database ? new DatabaseError(message, 0, 'error') : new Error(message), fields);
}
