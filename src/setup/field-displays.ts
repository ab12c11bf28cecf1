import { readCollection, readFields, updateCollection, updateField } from '@directus/sdk';
import { directusMessage } from './apply-schema.ts';
import type { AdminClient } from './directus-admin.ts';
import { MILLISECONDS_NOTE, PRECISE_TIME_INTERFACE, RACE_DURATION_INTERFACE, RACE_TIME_DISPLAY } from './field-kinds.ts';
import { CROSSING_DEVICE_NOTE, ENTRY_PENALTY_TEMPLATE, pitwallCollections, STAGE_RESULT_TEMPLATE, type CollectionDef } from './pitwall-schema.ts';

interface Display {
  display: string | null;
  display_options: Record<string, unknown> | null;
}

/**
 * What earlier versions of setup gave the fields that now use the race-time display: millisecond fields showed the
 * raw number with " ms", timestamps Directus's long date. A field still showing one of these was never changed by an
 * admin (or was changed back to Directus's plain default), so setup may give it the race-time display.
 */
const earlierDisplays: Display[] = [
  { display: null, display_options: null },
  { display: 'raw', display_options: null },
  { display: 'formatted-value', display_options: null },
  { display: 'formatted-value', display_options: { suffix: ' ms' } },
  { display: 'datetime', display_options: { format: 'long' } },
];

/**
 * Display templates an earlier setup gave, with what replaced them: the penalties' said "ms" after the amount, the
 * results' began with the rank ("--. #101 --" for a car still running).
 */
const TEMPLATES = [
  { collection: 'entry_penalties', earlier: '#{{entry.race_number}} {{kind}} +{{amount_ms}} ms', now: ENTRY_PENALTY_TEMPLATE, says: 'show entry_penalties amounts as race time in their display template' },
  { collection: 'stage_results', earlier: '{{rank}}. #{{entry.race_number}} {{total_ms}}', now: STAGE_RESULT_TEMPLATE, says: 'title stage_results by entry, stage and status' },
];

/**
 * Fields whose form an earlier setup made required, with the note it gave; setup now leaves them to a hook. A field
 * an admin changed (another note, or made optional) is left alone.
 */
const FILLED_BY_HOOK = [
  { collection: 'entry_crossings', field: 'device_id', earlierNote: 'Tracker IMEI', note: CROSSING_DEVICE_NOTE, says: "let a crossing set by hand leave entry_crossings.device_id empty (the entry's tracker)" },
];

export interface ExistingField {
  collection: string;
  field: string;
  meta: { required?: boolean | null; interface?: string | null; note?: string | null; display?: string | null; display_options?: Record<string, unknown> | null; translations?: unknown[] | null } | null;
}

/**
 * The bundle's interfaces, each with the one an earlier setup gave its fields: Directus's date-time picker (it stores
 * .000 for any correction) and its number input (a "10" penalty was 10 ms).
 */
const EARLIER_INTERFACES: Record<string, string> = { [PRECISE_TIME_INTERFACE]: 'datetime', [RACE_DURATION_INTERFACE]: 'input' };

export interface InterfaceStep {
  collection: string;
  field: string;
  interface: string;
  options: Record<string, unknown> | null;
  /** The field's note, where it still said the earlier way of typing it. */
  note?: string;
}

/** What a duration's note said while it was typed in milliseconds. */
const EARLIER_MILLISECONDS_NOTE = 'Milliseconds, stored as a 4-byte integer (up to 24 days) so the API answers a JSON number.';

/**
 * The fields that should have one of the bundle's interfaces and still have what an earlier setup gave them. A field
 * an admin gave another interface is left alone.
 */
export function planFieldInterfaces(desired: readonly CollectionDef[], existing: readonly ExistingField[]): InterfaceStep[] {
  const byKey = new Map(existing.map((f) => [`${f.collection}.${f.field}`, f]));
  return desired.flatMap((def) =>
    def.fields
      .filter((field) => {
        const earlier = EARLIER_INTERFACES[String(field.meta['interface'])];
        return earlier !== undefined && byKey.get(`${def.collection}.${field.field}`)?.meta?.interface === earlier;
      })
      .map((field) => {
        const note = byKey.get(`${def.collection}.${field.field}`)?.meta?.note;
        return {
          collection: def.collection,
          field: field.field,
          interface: String(field.meta['interface']),
          options: (field.meta['options'] as Record<string, unknown> | null) ?? null,
          // Only the earlier sentence changes: what precedes it may be an admin's.
          ...(typeof note === 'string' && note.endsWith(EARLIER_MILLISECONDS_NOTE) ? { note: `${note.slice(0, -EARLIER_MILLISECONDS_NOTE.length)}${MILLISECONDS_NOTE}` } : {}),
        };
      }),
  );
}

export interface DisplayStep {
  collection: string;
  field: string;
  display: string;
  display_options: Record<string, unknown> | null;
  /** The field's name in the app ("Total" for total_ms), only where it has none yet. */
  translations?: unknown[];
}

const empty = (options: Record<string, unknown> | null | undefined) => !options || Object.keys(options).length === 0;
const sameOptions = (a: Record<string, unknown> | null | undefined, b: Record<string, unknown> | null | undefined) =>
  (empty(a) && empty(b)) || JSON.stringify(sortedKeys(a ?? {})) === JSON.stringify(sortedKeys(b ?? {}));
const sortedKeys = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([x], [y]) => x.localeCompare(y)));

/**
 * The fields of Pitwall's schema that should show the race-time display and still show what an earlier setup gave
 * them. A field an admin gave another display (or other race-time options) is left alone, and so is a field that
 * does not exist (applyPitwallSchema creates it with the display).
 */
export function planFieldDisplays(desired: readonly CollectionDef[], existing: readonly ExistingField[]): DisplayStep[] {
  const byKey = new Map(existing.map((f) => [`${f.collection}.${f.field}`, f]));
  const steps: DisplayStep[] = [];
  for (const def of desired) {
    for (const field of def.fields) {
      if (field.meta['display'] !== RACE_TIME_DISPLAY) continue;
      const found = byKey.get(`${def.collection}.${field.field}`);
      if (!found) continue;
      const current = { display: found.meta?.display ?? null, display_options: found.meta?.display_options ?? null };
      if (!earlierDisplays.some((d) => d.display === current.display && sameOptions(d.display_options, current.display_options))) continue;
      const named = Array.isArray(found.meta?.translations) && found.meta.translations.length > 0;
      steps.push({
        collection: def.collection,
        field: field.field,
        display: RACE_TIME_DISPLAY,
        display_options: (field.meta['display_options'] as Record<string, unknown>) ?? null,
        ...(!named && Array.isArray(field.meta['translations']) ? { translations: field.meta['translations'] as unknown[] } : {}),
      });
    }
  }
  return steps;
}

/**
 * Brings the fields of an existing install to the race-time display and the bundle's inputs where an earlier setup
 * left them, and the display templates with them (TEMPLATES). Never touches what an admin changed.
 */
export async function ensureFieldDisplays(client: AdminClient): Promise<string[]> {
  const done: string[] = [];
  const fields = (await client.request(readFields())) as ExistingField[];
  for (const step of planFieldDisplays(pitwallCollections, fields)) {
    try {
      const meta = { display: step.display, display_options: step.display_options, ...(step.translations ? { translations: step.translations } : {}) };
      await client.request(updateField(step.collection, step.field, { meta } as never));
    } catch (error) {
      throw new Error(`set the display of ${step.collection}.${step.field} failed: ${directusMessage(error)}`, { cause: error });
    }
    done.push(`show ${step.collection}.${step.field} as race time`);
  }
  for (const step of planFieldInterfaces(pitwallCollections, fields)) {
    try {
      const meta = { interface: step.interface, options: step.options, ...(step.note ? { note: step.note } : {}) };
      await client.request(updateField(step.collection, step.field, { meta } as never));
    } catch (error) {
      throw new Error(`set the interface of ${step.collection}.${step.field} failed: ${directusMessage(error)}`, { cause: error });
    }
    done.push(`type ${step.collection}.${step.field} with ${step.interface}`);
  }
  for (const step of FILLED_BY_HOOK) {
    const found = fields.find((f) => f.collection === step.collection && f.field === step.field);
    if (found?.meta?.required !== true || found.meta.note !== step.earlierNote) continue;
    await client.request(updateField(step.collection, step.field, { meta: { required: false, note: step.note } } as never));
    done.push(step.says);
  }
  for (const template of TEMPLATES) {
    const found = (await client.request(readCollection(template.collection)).catch(() => null)) as { meta?: { display_template?: string | null } | null } | null;
    if (found?.meta?.display_template !== template.earlier) continue;
    await client.request(updateCollection(template.collection, { meta: { display_template: template.now } } as never));
    done.push(template.says);
  }
  return done;
}
