import type { Knex } from 'knex';
import { attributesJson, type AttributesJson } from '../../domain/io/attributes-json.ts';
import { devicesByImei, devicesOfModel, deviceModels, findDeviceModel, type DeviceRow } from '../../store/backfill-source.ts';
import { loadIoMappings } from '../../store/io-mappings.ts';
import { mappingRevisionLabel } from '../../store/mapping-revisions.ts';
import type { BackfillParams } from './backfill-params.ts';
import { BackfillTargetError } from './backfill-target-error.ts';

/** How one model's fixes are decoded now. */
export interface ModelDecoder {
  id: string;
  name: string;
  /** The mapping label written with every row (mappingLabel). */
  label: string;
  decode: AttributesJson;
}

export interface BackfillTargets {
  /** IMEIs in the order the backfill walks them. */
  devices: string[];
  decoderOf: Map<string, ModelDecoder>;
  models: ModelDecoder[];
}

/** Postgres "relation does not exist": a telemetry-only database without the Directus collections. */
const isMissingTable = (error: unknown) => (error as { code?: string })?.code === '42P01';

/**
 * The devices a backfill covers and each one's decoder: the devices of the model, or the listed IMEIs (every one
 * must exist), with the CURRENT IO mapping of their models, registered as a mapping revision.
 *
 * @throws BackfillTargetError when the model or an IMEI is unknown, or a model has no IO mapping rows.
 */
export async function backfillTargets(db: Knex, params: BackfillParams): Promise<BackfillTargets> {
  try {
    return await resolve(db, params);
  } catch (error) {
    if (isMissingTable(error)) throw new BackfillTargetError('the Directus collections (device_models, devices, io_mappings) do not exist in this database');
    throw error;
  }
}

async function resolve(db: Knex, params: BackfillParams): Promise<BackfillTargets> {
  let rows: DeviceRow[];
  if (params.model !== undefined) {
    const model = await findDeviceModel(db, params.model);
    if (!model) throw new BackfillTargetError(`device model ${JSON.stringify(params.model)} does not exist (give a device_models id or name)`);
    rows = await devicesOfModel(db, model.id);
    if (rows.length === 0) return { devices: [], decoderOf: new Map(), models: [await decoderFor(db, model)] };
  } else {
    const imeis = [...new Set(params.devices)];
    rows = await devicesByImei(db, imeis);
    const known = new Set(rows.map((d) => d.imei));
    const unknown = imeis.filter((imei) => !known.has(imei));
    if (unknown.length > 0) throw new BackfillTargetError(`unknown device IMEI${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  }
  const devices = rows.flatMap((d) => (d.model === null ? [] : [{ imei: d.imei, model: d.model }]));
  const modelless = rows.filter((d) => d.model === null).map((d) => d.imei);
  if (modelless.length > 0) throw new BackfillTargetError(`device${modelless.length > 1 ? 's' : ''} without a model: ${modelless.join(', ')}`);
  const models = await Promise.all((await deviceModels(db, [...new Set(devices.map((d) => d.model))])).map((m) => decoderFor(db, m)));
  const byId = new Map(models.map((m) => [m.id, m]));
  return {
    // Code-unit order, the order decoded rows are written in (see upsertDecodedAttributes).
    devices: devices.map((d) => d.imei).sort(),
    decoderOf: new Map(devices.map((d) => [d.imei, byId.get(d.model)!])),
    models,
  };
}

async function decoderFor(db: Knex, model: { id: string; name: string }): Promise<ModelDecoder> {
  const rows = (await loadIoMappings(db, [model.id])).get(model.id);
  if (!rows) throw new BackfillTargetError(`device model ${model.name} (${model.id}) has no IO mapping rows: there is nothing to decode with`);
  return { id: model.id, name: model.name, label: await mappingRevisionLabel(db, model.id, rows), decode: attributesJson(rows) };
}
