/** One place in line for an outbox write. */
export interface OutboxTurn {
  /** Waits for the turns before this one, runs the write, then lets the next turn go. */
  run<T>(write: () => Promise<T>): Promise<T>;
  /** Gives the turn up without writing (a batch discarded): the next turn goes once the ones before are done. */
  pass(): void;
}

/**
 * Outbox rows are delivered in id order, so they must be written in the order their facts were computed. A batch's
 * facts are computed when it is prepared and written when it is stored, while the batch before it is still being
 * stored and a clock tick may compute facts in between: each takes a turn when its facts are computed and writes in
 * that turn.
 */
export class OutboxTurns {
  private last: Promise<void> = Promise.resolve();

  take(): OutboxTurn {
    const before = this.last;
    let done!: () => void;
    this.last = new Promise<void>((resolve) => (done = resolve));
    return {
      run: async (write) => {
        await before;
        try {
          return await write();
        } finally {
          done();
        }
      },
      pass: () => void before.then(done),
    };
  }
}
