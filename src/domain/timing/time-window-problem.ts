/** A row's window of time: its opening and closing fields as the row names them, and their times (null: open). */
export interface TimeWindow {
  fromField: string;
  from: number | null;
  toField: string;
  to: number | null;
}

export interface TimeWindowProblem {
  field: string;
  message: string;
}

/**
 * What is wrong with a window whose close is not after its opening, or null. Such a stage times no crossing, and the
 * clock makes its running cars DNF the moment it is saved; an event or an assignment so written holds no instant at
 * all. The field named is the one the write set (the closing one when it set both or neither). A NaN time (text that
 * is no time) is not this check's matter.
 */
export function timeWindowProblem(window: TimeWindow, written: ReadonlySet<string>, consequence: string): TimeWindowProblem | null {
  const { fromField, from, toField, to } = window;
  if (from === null || to === null || Number.isNaN(from) || Number.isNaN(to) || to > from) return null;
  const field = written.has(fromField) && !written.has(toField) ? fromField : toField;
  const shown = (ms: number) => new Date(ms).toISOString();
  return { field, message: `${toField} (${shown(to)}) must be after ${fromField} (${shown(from)}): ${consequence}` };
}
