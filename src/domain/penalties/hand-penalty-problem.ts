import { isDeepStrictEqual } from 'node:util';
import { cutShort } from '../cut-short.ts';
import { PIPELINE_PENALTY_KINDS } from '../pipeline/facts.ts';

/** What a write of a penalty sets: a field left out (undefined) keeps what is stored. */
export interface PenaltyWrite {
  entryId?: unknown;
  stageId?: unknown;
  kind?: unknown;
  amountMs?: unknown;
  /** The evidence (zone, speeds, times): checked only against a computed penalty's own. */
  details?: unknown;
  /** Lifted by the officials; then with the reason (`waivedReason`). */
  waived?: unknown;
  waivedReason?: unknown;
}

/** The row an update changes, as stored (its entry, stage and amount as the database gives them). */
export interface StoredPenalty {
  kind: string;
  entryId: unknown;
  stageId: unknown;
  amountMs: unknown;
  details?: unknown;
  waived?: unknown;
  waivedReason?: unknown;
}

export interface HandPenaltyProblem {
  field: keyof PenaltyWrite;
  message: string;
}

const REQUIRED: readonly (keyof PenaltyWrite)[] = ['entryId', 'stageId', 'kind', 'amountMs'];
/** How the fields are named where people write them: the columns of `entry_penalties`. */
export const PENALTY_COLUMN: Record<keyof PenaltyWrite, string> = {
  entryId: 'entry',
  stageId: 'stage',
  kind: 'kind',
  amountMs: 'amount_ms',
  details: 'details',
  waived: 'waived',
  waivedReason: 'waived_reason',
};

/**
 * The most one hand penalty adds: a hundred hours, far more than any forfait. A typo past it (2147483647) was stored,
 * and the result's total overflowed its column, which stopped the timing of every car.
 */
export const MAX_HAND_PENALTY_MS = 100 * 3_600_000;

/**
 * What is wrong with a penalty that an official writes by hand, in which field, or null. `stored` is the row an update
 * changes, null for a new penalty.
 * - A new penalty needs its entry, stage, kind and amount (a CSV import with one left empty is refused at once,
 *   where Directus's own check of a required field would leave the import unanswered).
 * - The pipeline's kinds are the pipeline's: when it writes a result again it keeps, of those kinds, only the
 *   penalties it computed, so one given by hand would drop out of the total. A kind the pipeline does not compute
 *   (manual, or one an organiser adds to the list) is the officials'. Nor is a penalty the pipeline computed changed
 *   by hand (its amount, entry, stage, kind or details, the evidence): the pipeline writes it again from the fixes
 *   the next time it times the entry (a late fix, a replay), and the change would be undone without a word. The
 *   officials lift it by waiving it (`waived`, which the pipeline never writes), and give another amount as a
 *   penalty of their own.
 * - The amount is a whole number of milliseconds, not negative: a penalty adds time (the app's field is unsigned too);
 *   time is given back by lowering, waiving or deleting a penalty. At most MAX_HAND_PENALTY_MS.
 * - A waiver goes with its reason: a lifted penalty with no word of why is no decision anyone can check.
 */
export function handPenaltyProblem(write: PenaltyWrite, stored: StoredPenalty | null): HandPenaltyProblem | null {
  const storedKind = stored?.kind ?? null;
  if (stored === null) {
    for (const field of REQUIRED) {
      const value = write[field];
      if (value === undefined || value === null || value === '') return { field, message: `${PENALTY_COLUMN[field]} is required for a new penalty` };
    }
  }
  const { kind, amountMs } = write;
  if (typeof kind === 'string' && kind !== storedKind && PIPELINE_PENALTY_KINDS.has(kind)) {
    return {
      field: 'kind',
      message: `kind "${kind}" is computed by the pipeline, which keeps only its own penalties of that kind in a result's total: give a penalty by hand another kind, such as manual`,
    };
  }
  if (stored !== null && PIPELINE_PENALTY_KINDS.has(stored.kind)) {
    const changed =
      (['kind', 'entryId', 'stageId', 'amountMs'] as const).find((field) => write[field] !== undefined && String(write[field]) !== String(stored[field])) ??
      (write.details !== undefined && !sameJson(write.details, stored.details) ? 'details' : undefined);
    if (changed) {
      return {
        field: changed,
        message: `this ${stored.kind} penalty is computed by the pipeline: to lift it, set waived with the reason; to give another amount, waive it and add a manual penalty. (Changed by hand it would not last: the pipeline writes it again from the fixes when it next times the entry, after a late fix or a replay.)`,
      };
    }
  }
  if (amountMs !== undefined && !isWholeMilliseconds(amountMs)) {
    return { field: 'amountMs', message: `amount_ms must be a whole, non-negative number of milliseconds, got ${cutShort(String(JSON.stringify(amountMs)), 40)}` };
  }
  const waived = write.waived !== undefined ? write.waived : stored?.waived;
  const reason = write.waivedReason !== undefined ? write.waivedReason : stored?.waivedReason;
  if (waivedAsStored(waived) && (typeof reason !== 'string' || reason.trim() === '')) {
    return { field: 'waivedReason', message: `a waiver needs its reason in ${PENALTY_COLUMN.waivedReason}, for example the stewards' decision number` };
  }
  if (amountMs !== undefined && Number(amountMs) > MAX_HAND_PENALTY_MS && !(stored !== null && PIPELINE_PENALTY_KINDS.has(stored.kind))) {
    return { field: 'amountMs', message: `amount_ms is at most ${MAX_HAND_PENALTY_MS} (100:00:00, a hundred hours) for one penalty, got ${cutShort(String(amountMs), 20)}` };
  }
  return null;
}

/**
 * Whether a written `waived` is stored as true. Directus hands the value to Postgres as it came, and Postgres reads
 * 1, "1", "yes", "on", "t" and the unique prefixes of "true" and "yes" as true: a waiver with no reason got through as
 * any of those.
 */
function waivedAsStored(value: unknown): boolean {
  if (value === true || value === 1) return true;
  if (typeof value !== 'string') return false;
  const text = value.trim().toLowerCase();
  return text === '1' || text === 'on' || (text.length > 0 && ('true'.startsWith(text) || 'yes'.startsWith(text)));
}

/** Whether two JSON values (objects, or their text as a form or an import sends it) are the same. */
function sameJson(a: unknown, b: unknown): boolean {
  const value = (v: unknown): unknown => {
    if (typeof v !== 'string') return v ?? null;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  };
  return isDeepStrictEqual(value(a), value(b));
}

/** A non-negative safe integer, as a number or as its decimal text (a CSV import hands over text). */
function isWholeMilliseconds(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0;
  return typeof value === 'string' && /^\d{1,15}$/.test(value.trim());
}

/**
 * Why a penalty may not be deleted by hand, or null: one the pipeline computed would come back, unwaived, the next
 * time it times the entry (a late fix, a replay). The officials waive it instead, which lasts.
 */
export function handPenaltyDeleteProblem(stored: Pick<StoredPenalty, 'kind'>): HandPenaltyProblem | null {
  if (!PIPELINE_PENALTY_KINDS.has(stored.kind)) return null;
  return {
    field: 'kind',
    message: `this ${stored.kind} penalty is computed by the pipeline: to lift it, set waived with the reason (it then no longer counts, and stays so). (Deleted by hand it would come back: the pipeline writes it again from the fixes when it next times the entry, after a late fix or a replay.)`,
  };
}

/** A penalty a delete would remove, with how the officials know it (for example "#113 SS2 speeding"). */
export interface PenaltyToDelete {
  kind: string;
  label: string;
}

/** How many computed penalties a refused delete of several names. */
const NAMED_PENALTIES = 10;

/**
 * Why a delete of several penalties (the app's bulk delete) may not go ahead, or null: handPenaltyDeleteProblem for
 * each, naming the computed ones so that the officials can delete the others without them.
 */
export function handPenaltiesDeleteProblem(penalties: readonly PenaltyToDelete[]): HandPenaltyProblem | null {
  const computed = penalties.filter((penalty) => handPenaltyDeleteProblem(penalty) !== null);
  if (computed.length === 0) return null;
  if (penalties.length === 1) return handPenaltyDeleteProblem(computed[0]!);
  const named = computed.slice(0, NAMED_PENALTIES).map((penalty) => penalty.label);
  const more = computed.length > NAMED_PENALTIES ? ` and ${computed.length - NAMED_PENALTIES} more` : '';
  return {
    field: 'kind',
    message: `${computed.length} of the ${penalties.length} penalties are computed by the pipeline (${named.join(', ')}${more}): delete the others without them. To lift a computed one, set waived with the reason. (Deleted by hand it would come back: the pipeline writes it again from the fixes when it next times the entry.)`,
  };
}
