/** What a text typed into a field stores, or why it stores nothing (shown under the field). */
export type Typed<T> = { ok: true; value: T } | { ok: false; message: string };
