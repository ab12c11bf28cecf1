import { createError, ForbiddenError, InvalidPayloadError } from '@directus/errors';
import type { Accountability, EndpointExtensionContext, SchemaOverview } from '@directus/types';
import type { NextFunction, Request, Response } from 'express';
import { factBatchSchema } from '../../../../src/domain/pipeline/fact-batch';
import { applyFacts, factKeyIssues } from '../shared/apply-facts';
import { pipelineCallerCheck } from '../shared/role-callers';

/** @directus/errors has no 401 for "no credentials at all" (its 401s are about logins and expired tokens). */
export const UnauthenticatedError = createError('UNAUTHENTICATED', 'Authentication required: send a Directus access token or static token.', 401);

type DirectusRequest = Request & { accountability?: Accountability | null; schema?: SchemaOverview };

/**
 * `POST /pitwall/facts`: one FactBatch from the processor (or replay), written as the caller.
 * 200 `{data: {created, updated, deleted, unchanged, ranked, superseded, orphaned, conflicting, official}}` (orphaned and
 * conflicting: upserts left out, see unwritable-facts; official: see official-crossings); 401 anonymous; 400 invalid body or a value its column cannot
 * hold, with the zod issues in `extensions.issues`; 403 for a caller that is neither an admin nor of the processor's
 * role (before anything is locked or read), or whose permissions do not cover a read or write (nothing is written).
 */
export function factsRoute({ services, database, getSchema, logger, env }: EndpointExtensionContext) {
  const mayHandInFacts = pipelineCallerCheck(database);
  return async (req: DirectusRequest, res: Response, next: NextFunction): Promise<void> => {
    const accountability = req.accountability ?? null;
    if (!accountability?.user) return next(new UnauthenticatedError());
    if (!(await mayHandInFacts(accountability))) return next(new ForbiddenError());

    const parsed = factBatchSchema.safeParse(req.body);
    const issues = parsed.success ? factKeyIssues(parsed.data) : parsed.error.issues;
    if (!parsed.success || issues.length > 0) {
      const reason = issues.map((issue) => `${issue.path.map(String).join('.') || '(body)'}: ${issue.message}`).join('; ');
      const extensions = { reason, issues };
      return next(new InvalidPayloadError(extensions));
    }

    const batch = parsed.data;
    const { counts, setBased } = await applyFacts(batch, { services, database, schema: req.schema ?? (await getSchema()), accountability, logger, env });
    logger.info({ batch: batch.batch, source: batch.source, user: accountability.user, ...counts, setBased }, 'pitwall: fact batch applied');
    res.json({ data: counts });
  };
}
