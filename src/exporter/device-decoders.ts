import type { Knex } from 'knex';
import { attributesJson, type AttributesJson } from '../domain/io/attributes-json.ts';
import { mappingVersion } from '../domain/io/index.ts';
import type { RawAttributes } from '../domain/position.ts';
import { loadIoMappings } from '../store/io-mappings.ts';
import { mappingRevisionLabel } from '../store/mapping-revisions.ts';
import type { DecodeAttributes } from './export-row.ts';

interface ModelDecoder {
  hash: string;
  label: string;
  json: AttributesJson;
}

/**
 * Decodes raw IO by each device's model, as the processor does (same decoder, same mapping labels), from the
 * Directus collections `devices` and `io_mappings`, read again by `refresh`.
 */
export class DeviceDecoders {
  private modelOfDevice = new Map<string, string>();
  private byModel = new Map<string, ModelDecoder>();

  constructor(private readonly db: Knex) {}

  async refresh(): Promise<void> {
    const devices: { imei: string; model: string | null }[] = await this.db('devices').select('imei', this.db.raw('model::text AS model'));
    const modelOfDevice = new Map(devices.filter((d) => d.model !== null).map((d) => [d.imei, d.model!]));
    const mappings = await loadIoMappings(this.db, [...new Set(modelOfDevice.values())]);
    const byModel = new Map<string, ModelDecoder>();
    const failed: string[] = [];
    for (const [model, rows] of mappings) {
      const hash = mappingVersion(rows);
      const known = this.byModel.get(model);
      if (known?.hash === hash) {
        byModel.set(model, known);
        continue;
      }
      try {
        byModel.set(model, { hash, label: await mappingRevisionLabel(this.db, model, rows), json: attributesJson(rows) });
      } catch {
        // As the processor does: one model's table that cannot be registered holds back no other model's.
        if (known) byModel.set(model, known);
        failed.push(model);
      }
    }
    this.modelOfDevice = modelOfDevice;
    this.byModel = byModel;
    if (failed.length > 0) throw new Error(`IO mapping of model(s) ${failed.join(', ')} not registered; decoded with the mapping read before, or not at all`);
  }

  readonly decode: DecodeAttributes = (deviceId: string, raw: RawAttributes, exact?: () => RawAttributes) => {
    const model = this.modelOfDevice.get(deviceId);
    const decoder = model === undefined ? undefined : this.byModel.get(model);
    if (!decoder) return null;
    try {
      return { json: decoder.json.fromRaw(raw, exact), mappingVersion: decoder.label };
    } catch {
      return null; // raw IO the mapping cannot decode is still exported, raw
    }
  };

  /** Devices whose fixes get decoded attributes now. */
  get decodedDevices(): number {
    let count = 0;
    for (const model of this.modelOfDevice.values()) if (this.byModel.has(model)) count += 1;
    return count;
  }
}
