const REVISION_DIGITS = 12;
const HASH = /^[0-9a-f]{16}$/;

/**
 * The mapping version stored beside decoded attributes: `r<revision, 12 digits>-<mappingVersion hash>`, e.g.
 * `r000000000042-3f2a9c0d1e2b4a5c`. The hash says which table decoded a row; the revision (assigned each time a
 * model's table changes, see store/mapping-revisions.ts) orders them, so that plain text comparison in byte order
 * (`COLLATE "C"`, or `<` in JavaScript) puts a newer mapping after an older one. Labels from before revisions were
 * the bare 16-hex-digit hash: "r" sorts after every hex digit, so any revision label is newer than those.
 *
 * @throws RangeError for a revision that is not an integer in 0..10^12-1 or a hash that is not 16 hex digits.
 */
export function mappingLabel(revision: number, hash: string): string {
  if (!Number.isSafeInteger(revision) || revision < 0 || revision >= 10 ** REVISION_DIGITS) {
    throw new RangeError(`mapping revision must be an integer in 0..${10 ** REVISION_DIGITS - 1}, got ${revision}`);
  }
  if (!HASH.test(hash)) throw new RangeError(`mapping hash must be 16 lower-case hex digits, got ${JSON.stringify(hash)}`);
  return `r${String(revision).padStart(REVISION_DIGITS, '0')}-${hash}`;
}
