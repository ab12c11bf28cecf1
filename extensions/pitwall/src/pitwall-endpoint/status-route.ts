import { ForbiddenError } from '@directus/errors';
import type { Accountability, EndpointExtensionContext } from '@directus/types';
import type { NextFunction, Request, Response } from 'express';
import { readProcessorStatus } from '../shared/processor-status';
import { raceControlCallerCheck } from '../shared/role-callers';
import { UnauthenticatedError } from './facts-route';

type DirectusRequest = Request & { accountability?: Accountability | null };

/**
 * `GET /pitwall/status`: the processors' health as the health panel shows it (positions per minute, lag, parked
 * outbox rows, dead letters, and which instance went silent when). For admins and Race Control: 401 without
 * credentials, 403 for anyone else (it names hosts and tells how the pipeline is doing).
 */
export function statusRoute({ database }: EndpointExtensionContext) {
  const mayRead = raceControlCallerCheck(database);
  return async (req: DirectusRequest, res: Response, next: NextFunction): Promise<void> => {
    if (!req.accountability?.user) return next(new UnauthenticatedError());
    if (!(await mayRead(req.accountability))) return next(new ForbiddenError());
    res.set('cache-control', 'no-store').json(await readProcessorStatus(database));
  };
}
