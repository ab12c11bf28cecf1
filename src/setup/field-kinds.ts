/**
 * Builders for Directus field definitions, so the collection list reads like a data model rather than like JSON.
 * Each returns the body of `POST /fields/:collection`.
 */
export interface FieldDef {
  field: string;
  type: string;
  meta: Record<string, unknown>;
  schema: Record<string, unknown> | null;
}

export interface RelationDef {
  collection: string;
  field: string;
  related_collection: string;
  schema: { on_delete: 'CASCADE' | 'SET NULL' | 'RESTRICT' | 'NO ACTION' };
  meta: { one_field?: string | null; sort_field?: string | null };
}

type Width = 'half' | 'full' | 'fill';

interface Common {
  required?: boolean;
  /** A required column the form may leave empty, for a hook to fill (the column stays NOT NULL). */
  filledByHook?: boolean;
  width?: Width;
  note?: string;
  readonly?: boolean;
  hidden?: boolean;
  unique?: boolean;
  defaultValue?: unknown;
}

function meta(common: Common, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    required: (common.required ?? false) && !common.filledByHook,
    width: common.width ?? 'half',
    note: common.note ?? null,
    readonly: common.readonly ?? false,
    hidden: common.hidden ?? false,
    ...extra,
  };
}

function columnSchema(common: Common, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    is_nullable: !common.required,
    is_unique: common.unique ?? false,
    ...(common.defaultValue === undefined ? {} : { default_value: common.defaultValue }),
    ...extra,
  };
}

export const uuidPrimaryKey = (): FieldDef => ({
  field: 'id',
  type: 'uuid',
  meta: { hidden: true, readonly: true, interface: 'input', special: ['uuid'] },
  schema: { is_primary_key: true, length: 36, has_auto_increment: false },
});

export const text = (field: string, o: Common & { placeholder?: string; multiline?: boolean } = {}): FieldDef => ({
  field,
  type: o.multiline ? 'text' : 'string',
  meta: meta(o, {
    interface: o.multiline ? 'input-multiline' : 'input',
    options: o.placeholder ? { placeholder: o.placeholder } : null,
  }),
  schema: columnSchema(o),
});

export const slug = (field: string, o: Common = {}): FieldDef => ({
  field,
  type: 'string',
  meta: meta(o, { interface: 'input', options: { slug: true, font: 'monospace' } }),
  schema: columnSchema(o),
});

/**
 * A secret kept as Directus keeps its own API keys: the `encrypt` special encrypts it at rest with Directus's SECRET,
 * shows every user `**********` (API, app and revisions alike) and decrypts it only for reads as the system; the
 * `input-hash` interface sets or replaces it without showing it. Text, because the ciphertext is long.
 */
export const secretMeta = {
  interface: 'input-hash',
  special: ['encrypt'],
  options: { iconRight: 'lock', masked: true, autocomplete: 'off' },
  display: 'formatted-value',
  display_options: { masked: true },
};

export const secret = (field: string, o: Common = {}): FieldDef => ({
  field,
  type: 'text',
  meta: meta(o, secretMeta),
  schema: columnSchema(o),
});

export const integer = (field: string, o: Common & { min?: number; max?: number; suffix?: string } = {}): FieldDef => ({
  field,
  type: 'integer',
  meta: meta(o, { interface: 'input', options: { min: o.min ?? null, max: o.max ?? null, iconRight: null }, display: 'formatted-value', display_options: o.suffix ? { suffix: o.suffix } : null }),
  schema: columnSchema(o),
});

/** How time spans are typed, and why they are 4-byte integers; shown on each such field. */
export const MILLISECONDS_NOTE = 'Typed as race time: 10 is ten seconds, 1:30.250 a minute and a half. Stored in milliseconds, a 4-byte integer so the API answers a JSON number.';

/** The bundle's interface typing a millisecond duration as race time ("10", "1:30.250"). */
export const RACE_DURATION_INTERFACE = 'pitwall-race-duration';

/** The bundle's display (pitwall-race-time-display): milliseconds as race time, timestamps as time of day. */
export const RACE_TIME_DISPLAY = 'pitwall-race-time';

/**
 * A time span in milliseconds, shown as race time ("1:42.036"; `signed` for gaps: "+0:01.5"). A 4-byte `integer`,
 * not a `bigInteger`: Directus answers bigInteger fields as JSON strings, and 2,147,483,647 ms (24.8 days) is far more
 * than any stage or penalty lasts.
 */
export const milliseconds = (field: string, o: Common & { signed?: boolean; maxMs?: number } = {}): FieldDef => {
  const { signed, maxMs, ...common } = o;
  const def = integer(field, { ...common, note: o.note ? `${o.note} ${MILLISECONDS_NOTE}` : MILLISECONDS_NOTE });
  return {
    ...def,
    meta: {
      ...def.meta,
      interface: RACE_DURATION_INTERFACE,
      options: signed || maxMs !== undefined ? { ...(signed ? { signed: true } : {}), ...(maxMs !== undefined ? { maxMs } : {}) } : null,
      display: RACE_TIME_DISPLAY,
      display_options: { decimals: 'trim', signed: signed ?? false },
      translations: millisecondsLabel(field),
    },
  };
};

/** "total_ms" reads "Total" in the app (the column shows a race time, and the note says it is stored in ms). */
export function millisecondsLabel(field: string): { language: string; translation: string }[] {
  const words = field.replace(/_ms$/, '').split('_');
  return [{ language: 'en-US', translation: words.map((w, i) => (i === 0 ? w.charAt(0).toUpperCase() + w.slice(1) : w)).join(' ') }];
}

/** The bundle's interface typing a timestamp to the millisecond (Directus's date-time picker stops at seconds). */
export const PRECISE_TIME_INTERFACE = 'pitwall-precise-time';

/** A moment read to the millisecond (a gate crossing): shown as the time of day, "14:03:27.118". */
export const preciseTimestamp = (field: string, o: Common = {}): FieldDef => {
  const def = timestamp(field, o);
  return { ...def, meta: { ...def.meta, interface: PRECISE_TIME_INTERFACE, options: null, display: RACE_TIME_DISPLAY, display_options: { decimals: '3' } } };
};

/**
 * A moment race control reads at a glance (when an anomaly began): shown as the time of day, "14:03:27", the stored
 * date and time on hover. Directus's long date ("December 7, 2026 at 7:12:03 PM") filled the dashboard's narrow
 * anomalies list before the crew could show.
 */
export const clockTimestamp = (field: string, o: Common = {}): FieldDef => {
  const def = timestamp(field, o);
  return { ...def, meta: { ...def.meta, display: RACE_TIME_DISPLAY, display_options: { decimals: '0' } } };
};

export const bigInteger = (field: string, o: Common & { suffix?: string } = {}): FieldDef => ({
  field,
  type: 'bigInteger',
  meta: meta(o, { interface: 'input', display: 'formatted-value', display_options: o.suffix ? { suffix: o.suffix } : null }),
  schema: columnSchema(o),
});

export const float = (field: string, o: Common & { suffix?: string } = {}): FieldDef => ({
  field,
  type: 'float',
  meta: meta(o, { interface: 'input', display: 'formatted-value', display_options: o.suffix ? { suffix: o.suffix } : null }),
  schema: columnSchema(o),
});

/** Exact decimals (numeric), for scale factors that a float would round. Directus returns them as strings. */
export const decimal = (field: string, precision: number, scale: number, o: Common = {}): FieldDef => ({
  field,
  type: 'decimal',
  meta: meta(o, { interface: 'input', display: 'formatted-value' }),
  schema: columnSchema(o, { numeric_precision: precision, numeric_scale: scale }),
});

export const boolean = (field: string, o: Common & { label?: string } = {}): FieldDef => ({
  field,
  type: 'boolean',
  meta: meta(o, { interface: 'boolean', special: ['cast-boolean'], options: o.label ? { label: o.label } : null, display: 'boolean' }),
  schema: columnSchema(o),
});

/** timestamptz with milliseconds; shown with seconds because race times are read to the second or better. */
export const timestamp = (field: string, o: Common & { special?: string[] } = {}): FieldDef => ({
  field,
  type: 'timestamp',
  meta: meta(o, {
    interface: 'datetime',
    options: { includeSeconds: true, use24: true },
    display: 'datetime',
    display_options: { format: 'long' },
    ...(o.special ? { special: o.special } : {}),
  }),
  schema: columnSchema(o),
});

export const json = (field: string, o: Common = {}): FieldDef => ({
  field,
  type: 'json',
  meta: meta(o, { interface: 'input-code', options: { language: 'JSON', lineNumber: true }, special: ['cast-json'] }),
  schema: columnSchema(o),
});

export const tags = (field: string, o: Common & { placeholder?: string } = {}): FieldDef => ({
  field,
  type: 'json',
  meta: meta(o, { interface: 'tags', special: ['cast-json'], options: o.placeholder ? { placeholder: o.placeholder } : null, display: 'labels' }),
  schema: columnSchema(o),
});

export interface Choice {
  value: string;
  text: string;
  color?: string;
}

export const choice = (field: string, choices: Choice[], o: Common = {}): FieldDef => ({
  field,
  type: 'string',
  meta: meta(o, {
    interface: 'select-dropdown',
    options: { choices: choices.map(({ value, text }) => ({ value, text })) },
    display: 'labels',
    display_options: {
      showAsDot: false,
      choices: choices.map(({ value, text, color }) => ({ value, text, foreground: color ?? null, background: null })),
    },
  }),
  schema: columnSchema(o),
});

export const progress = (field: string, o: Common = {}): FieldDef => ({
  field,
  type: 'float',
  meta: meta(o, { interface: 'slider', options: { minValue: 0, maxValue: 1, stepInterval: 0.01 }, display: 'formatted-value', display_options: { format: true } }),
  schema: columnSchema(o, { default_value: 0 }),
});

/** PostGIS geometry (SRID 4326), edited on the Directus map centred on the race area. */
export const geometry = (
  field: string,
  kind: 'Point' | 'LineString' | 'Polygon' | null,
  o: Common & { center?: { lng: number; lat: number }; zoom?: number } = {},
): FieldDef => ({
  field,
  type: kind ? `geometry.${kind}` : 'geometry',
  meta: meta(o, {
    interface: 'map',
    options: o.center ? { defaultView: { center: o.center, zoom: o.zoom ?? 11, bearing: 0, pitch: 0 } } : null,
    display: 'formatted-value',
  }),
  schema: columnSchema(o),
});

export interface ManyToOne {
  field: FieldDef;
  relation: RelationDef;
}

/** A many-to-one field and its relation (a foreign key in the database). */
export const manyToOne = (
  field: string,
  related: string,
  o: Common & { template: string; onDelete?: RelationDef['schema']['on_delete']; oneField?: string; keyType?: 'uuid' | 'integer' } ,
): ManyToOne => ({
  field: {
    field,
    type: o.keyType ?? 'uuid',
    meta: meta(o, {
      interface: 'select-dropdown-m2o',
      special: ['m2o'],
      options: { template: o.template },
      display: 'related-values',
      display_options: { template: o.template },
    }),
    schema: columnSchema(o),
  },
  relation: {
    collection: '',
    field,
    related_collection: related,
    schema: { on_delete: o.onDelete ?? (o.required ? 'RESTRICT' : 'SET NULL') },
    meta: { one_field: o.oneField ?? null, sort_field: null },
  },
});

/** The "many" side shown on the parent's form, e.g. an event's stages. */
export const oneToMany = (field: string, o: { fields: string[]; template?: string; note?: string }): FieldDef => ({
  field,
  type: 'alias',
  meta: {
    interface: 'list-o2m',
    special: ['o2m'],
    options: { fields: o.fields, ...(o.template ? { template: o.template } : {}), enableLink: true },
    display: 'related-values',
    display_options: o.template ? { template: o.template } : null,
    width: 'full',
    note: o.note ?? null,
  },
  schema: null,
});

export const userCreated = (): FieldDef => ({
  field: 'user_created',
  type: 'uuid',
  meta: { special: ['user-created'], interface: 'select-dropdown-m2o', options: { template: '{{avatar}} {{first_name}} {{last_name}}' }, display: 'user', readonly: true, hidden: false, width: 'half' },
  schema: { is_nullable: true },
});

export const dateCreated = (field = 'date_created'): FieldDef => ({
  field,
  type: 'timestamp',
  meta: { special: ['date-created'], interface: 'datetime', readonly: true, hidden: false, width: 'half', display: 'datetime', display_options: { relative: true } },
  schema: { is_nullable: true },
});
