import { z } from 'zod';
import { deviceIdSchema } from '../../domain/parse-stream-entry.ts';
import { isUuid } from '../../domain/uuid-text.ts';
import { once } from '../param-lists.ts';
import { storableTime } from '../storable-time.ts';

const isoTime = storableTime(z.iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time with a time zone, e.g. 2026-03-01T08:00:00Z' }));

/**
 * What a backfill run is asked to do (CONTRACTS section 5, `POST /pitwall/backfill`): the devices of one model, or
 * listed devices, over [from, to). Used by the endpoint (400 with these issues), the Flow operation, the CLI and
 * the engine itself.
 */
export const backfillParamsSchema = z
  .strictObject({
    /** A device_models id (its unique name is accepted too); an id in upper case is the same id, in lower case. */
    model: z
      .string()
      .trim()
      .min(1, 'model must not be empty')
      .max(255, 'a model id or name is at most 255 characters')
      .refine((model) => !model.includes('\u0000'), 'must not contain NUL characters')
      .overwrite((model) => (isUuid(model) ? model.toLowerCase() : model))
      .optional(),
    /** Tracker IMEIs (device ids of the stream: at most 64 characters), as many as a replay takes. */
    devices: z
      .array(z.string().trim().pipe(deviceIdSchema))
      .min(1, 'devices must list at least one IMEI')
      .max(10_000, 'devices lists at most 10,000 IMEIs (give model for a whole fleet)')
      .transform(once)
      .optional(),
    from: isoTime,
    to: isoTime,
  })
  .superRefine((params, ctx) => {
    if ((params.model === undefined) === (params.devices === undefined)) {
      ctx.addIssue({ code: 'custom', path: params.model === undefined ? [] : ['devices'], message: 'give exactly one of model or devices' });
    }
    // Only between two times the field checks took (zod runs this after they failed too; see replayParamsSchema).
    if (isoTime.safeParse(params.from).success && isoTime.safeParse(params.to).success && Date.parse(params.from) >= Date.parse(params.to)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must be later than from' });
    }
  });

export type BackfillParams = z.infer<typeof backfillParamsSchema>;
