import { ForbiddenError, InvalidPayloadError } from '@directus/errors';
import type { Accountability, EndpointExtensionContext, SchemaOverview } from '@directus/types';
import type { NextFunction, Request, Response, Router } from 'express';
import { cutShort } from '../../../../src/domain/cut-short';
import { replayWriteRefusal } from '../shared/replay-access';
import { badUuidParam, queryFlag, REQUEST_KEY_HEADER, requestKeyOf } from '../shared/route-params';
import { cancelRun, checkRunRequest, createRunOnce, issuesRefusal, readRun, runCollection, type RunKind, type RunServices } from '../shared/runs';
import { writePermission } from '../shared/write-guard';
import { UnauthenticatedError } from './facts-route';
import { runEndRoute } from './run-end-route';

type DirectusRequest = Request & { accountability?: Accountability | null; schema?: SchemaOverview };
type Handler = (req: DirectusRequest, res: Response, next: NextFunction) => Promise<void>;

/**
 * CONTRACTS section 5 for one kind of run: `POST /pitwall/<kind>` queues a run and answers `{run}` (202),
 * `GET /pitwall/<kind>/:run` reads it, `POST /pitwall/<kind>/:run/cancel` cancels it. 401 without credentials,
 * 403 for callers who may not create (or read) runs, before their body is looked at, 400 with the zod issues for a
 * bad body or a `:run` that is no uuid, and 403
 * for a replay in apply mode asked by anyone but an admin (replay-access), or a cancel with `?force=true` (a replay
 * stopped while it applies its changes, which only admins may; see cancelRun and run-changes).
 * With an `Idempotency-Key` header, a POST sent again answers the run the first one queued (200,
 * `Idempotent-Replayed: true`) instead of queueing a second; the same key with another body gets 422 (createRunOnce).
 * `POST /pitwall/<kind>/:run/end` is the job runner's (see run-end-route).
 */
export function runsRoutes(router: Router, kind: RunKind, context: EndpointExtensionContext, guarded: (h: Handler) => Handler): void {
  const { services, database, getSchema, logger } = context;
  const servicesOf = async (req: DirectusRequest): Promise<RunServices> => ({
    services, database, schema: req.schema ?? (await getSchema()), accountability: req.accountability ?? null,
  });
  const authenticated = (req: DirectusRequest) => Boolean(req.accountability?.user);
  const mayWrite = writePermission(database);

  router.post(
    `/${kind}`,
    guarded(async (req, res, next) => {
      if (!authenticated(req)) return next(new UnauthenticatedError());
      // Before the body is checked: a caller who may not start runs learns nothing from it (which stages exist).
      if (!(await mayWrite(runCollection(kind), 'create', req.accountability))) return next(new ForbiddenError());
      const request = requestKeyOf(req.get(REQUEST_KEY_HEADER));
      if (request.error) return next(request.error);
      // Directus parses JSON bodies only: any other is dropped unread, and the caller would be told of missing fields.
      const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
      if (hasBody && !req.is('application/json')) {
        return next(new InvalidPayloadError({ reason: `body: send it as JSON, with Content-Type: application/json (got ${cutShort(req.get('content-type') ?? 'no Content-Type', 60)})` }));
      }
      const checked = await checkRunRequest(kind, req.body ?? {}, database);
      if (checked.issues) return next(issuesRefusal(checked.issues));
      // Before anything is written (the hook refuses the same write of the run row, whoever makes it).
      const refusal = kind === 'replay' ? replayWriteRefusal('create', { params: checked.params }, req.accountability) : null;
      if (refusal) return next(new ForbiddenError({ reason: refusal }));
      const { run, again } = await createRunOnce(kind, checked.params, await servicesOf(req), request.key);
      if (again) {
        // Asked before with this key: the run it made, as it is now, and no second one.
        res.set('Idempotent-Replayed', 'true').status(200).json({ run });
        return;
      }
      logger.info({ kind, run: run['id'], user: req.accountability?.user }, `pitwall: ${kind} run queued`);
      res.status(202).json({ run });
    }),
  );
  router.get(
    `/${kind}/:run`,
    guarded(async (req, res, next) => {
      if (!authenticated(req)) return next(new UnauthenticatedError());
      const badRun = badUuidParam('run', req.params['run']);
      if (badRun) return next(badRun);
      res.json({ run: await readRun(kind, String(req.params['run']), await servicesOf(req)) });
    }),
  );
  router.post(
    `/${kind}/:run/cancel`,
    guarded(async (req, res, next) => {
      if (!authenticated(req)) return next(new UnauthenticatedError());
      const badRun = badUuidParam('run', req.params['run']);
      if (badRun) return next(badRun);
      const force = queryFlag('force', req.query['force']);
      if (force.error) return next(force.error);
      const run = await cancelRun(kind, String(req.params['run']), await servicesOf(req), force.value);
      logger.info({ kind, run: run['id'], status: run['status'], user: req.accountability?.user }, `pitwall: ${kind} run cancel asked`);
      res.json({ run });
    }),
  );
  router.post(`/${kind}/:run/end`, guarded(runEndRoute(kind, context)));
}
