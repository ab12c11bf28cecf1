import { InvalidPayloadError, createError, type DirectusError } from '@directus/errors';
import { describe, expect, it } from 'vitest';
import { DeliveryError, factsFailure, factsValidationReason, PayloadTooLargeError, RejectedBatchError } from '../../../src/directus/directus-api.ts';

/** The body Directus's error handler answers for a thrown DirectusError (api/src/middleware/error-handler.ts). */
const directusBody = (error: DirectusError<any>) => JSON.stringify({ errors: [{ message: error.message, extensions: { ...(error.extensions ?? {}), code: error.code } }] });

/** What facts-route.ts passes to next() for an invalid batch: the zod issues and the one-line reason. */
const issues = [{ code: 'invalid_format', path: ['upserts', 0, 'entryId'], message: 'Invalid UUID' }];
const pitwallValidation = directusBody(new InvalidPayloadError({ reason: 'upserts.0.entryId: Invalid UUID', issues } as any));
const routeNotFound = JSON.stringify({ errors: [{ message: "Route /pitwall/facts doesn't exist.", extensions: { path: '/pitwall/facts', code: 'ROUTE_NOT_FOUND' } }] });

describe('the courier reads the answers of POST /pitwall/facts', () => {
  it("parks a batch only on the facts route's own validation answer, with its reason", () => {
    expect(factsValidationReason(400, pitwallValidation)).toBe('upserts.0.entryId: Invalid UUID');
    const error = factsFailure(400, pitwallValidation);
    expect(error).toBeInstanceOf(RejectedBatchError);
    expect(error).not.toBeInstanceOf(PayloadTooLargeError);
    expect(error.message).toBe('invalid fact batch: upserts.0.entryId: Invalid UUID');
  });

  it('retries a 404, as a Directus being deployed answers before the bundle is loaded', () => {
    expect(factsFailure(404, routeNotFound)).toBeInstanceOf(DeliveryError);
    expect(factsFailure(404, '<html>Not Found</html>')).toBeInstanceOf(DeliveryError);
  });

  it.each([401, 403, 408, 409, 422, 429, 500, 502, 503, 504])('retries HTTP %i', (status) => {
    const body = JSON.stringify({ errors: [{ message: 'x', extensions: { code: 'SOMETHING' } }] });
    expect(factsFailure(status, body)).toBeInstanceOf(DeliveryError);
  });

  it('asks for smaller requests on 413 (a proxy) and on Directus\'s own answer to a body over MAX_PAYLOAD_SIZE', () => {
    const error = factsFailure(413, directusBody(new (createError('REQUEST_TOO_LARGE', 'Request too large.', 413))()));
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    // Directus wraps the JSON parser's refusal (api/src/app.ts): 400 INVALID_PAYLOAD with the parser's message.
    const directus = directusBody(new InvalidPayloadError({ reason: 'request entity too large' }));
    expect(factsFailure(400, directus)).toBeInstanceOf(PayloadTooLargeError);
    expect(factsValidationReason(400, directus)).toBeNull();
  });

  it('retries a 400 that is not the facts route speaking: a proxy, Directus own checks, a half-matching shape', () => {
    const others = [
      'Bad Request',
      '',
      '{"errors": []}',
      // Directus's own invalid-payload answers carry a reason but no zod issues (a body it could not parse, say).
      directusBody(new InvalidPayloadError({ reason: 'Invalid JSON' })),
      directusBody(new InvalidPayloadError({ reason: 'x', issues: [] } as any)),
      directusBody(new InvalidPayloadError({ reason: 'x', issues: ['not an issue'] } as any)),
      directusBody(new (createError('INVALID_FOREIGN_KEY', 'Invalid foreign key.', 400))()),
      JSON.stringify({ errors: [{ message: 'x', extensions: { code: 'INVALID_QUERY', reason: 'r', issues } }] }),
    ];
    for (const body of others) {
      expect(factsValidationReason(400, body), body).toBeNull();
      expect(factsFailure(400, body), body).toBeInstanceOf(DeliveryError);
    }
  });

  it('does not take the validation shape for a refusal under another status', () => {
    expect(factsValidationReason(422, pitwallValidation)).toBeNull();
    expect(factsFailure(500, pitwallValidation)).toBeInstanceOf(DeliveryError);
  });
});
