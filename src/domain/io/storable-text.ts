/**
 * Text Postgres cannot hold: `text` and `jsonb` refuse the NUL character ("unsupported Unicode escape sequence"),
 * and JSON input refuses a UTF-16 surrogate without its partner. Decoded attributes are jsonb, so no key or string
 * value of them may contain either.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE = new RegExp(`\u0000|${LONE_SURROGATE.source}`);
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** What in `text` Postgres would refuse, or null when it can be stored. */
export function unstorableTextProblem(text: string): string | null {
  const found = UNSTORABLE.exec(text);
  if (found === null) return null;
  const what = found[0] === '\u0000' ? 'a NUL character' : 'a lone UTF-16 surrogate';
  return `${what} at position ${found.index}, which Postgres cannot store as text`;
}

/**
 * `text` with what Postgres refuses replaced by U+FFFD, for text that only describes (an error message quoting a
 * raw value): a description may lose a character, a value may not, so values are refused instead (see above).
 */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, '\ufffd') : text;
}

/** Whether `text` holds a UTF-16 surrogate without its partner, which no UTF-8 reader (Postgres, DuckDB) takes. */
export const hasLoneSurrogate = (text: string): boolean => LONE_SURROGATE.test(text);
