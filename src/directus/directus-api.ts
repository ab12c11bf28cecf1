/**
 * The one way the processor and the job runner talk to Directus: the bundle's routes with a static token, and what
 * each kind of answer means for the caller (retry, split, or give up). Setup talks to Directus as an admin through
 * @directus/sdk instead (src/setup/directus-admin.ts).
 */

/** Directus answered that this batch can never be applied as it is: retrying would block every later batch. */
export class RejectedBatchError extends Error {
  override name = 'RejectedBatchError';
}

/** Directus or the network failed this time; the same batch is tried again. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

/**
 * The body is over Directus's request size limit (`MAX_PAYLOAD_SIZE`, or a proxy's in front of it). The same facts in
 * smaller requests go through, so the courier splits; for callers that cannot split it is a refusal like the others.
 */
export class PayloadTooLargeError extends RejectedBatchError {
  override name = 'PayloadTooLargeError';
}

// 401 and 403 are retried: a token or permission that setup has not written yet will be there later.
const permanent = new Set([400, 404, 409, 413, 422]);

export interface DirectusTarget {
  directusUrl: string;
  token: string;
  requestTimeoutMs?: number;
  /** Aborts a request under way (a run cancelled while its request waits on Directus): a DeliveryError. */
  signal?: AbortSignal;
}

/** Turns a non-2xx answer into the error its caller acts on. */
export type FailureOf = (status: number, body: string) => Error;

/** Any Directus route: refusals that will not change by retrying (a bad request, a missing item) are final. */
const anyRouteFailure: FailureOf = (status, body) => {
  const message = `HTTP ${status}: ${body.slice(0, 1000)}`;
  if (isTooLarge(status, body)) return new PayloadTooLargeError(message);
  return permanent.has(status) ? new RejectedBatchError(message) : new DeliveryError(message);
};

const timeoutOr = (target: DirectusTarget): AbortSignal => {
  const timeout = AbortSignal.timeout(target.requestTimeoutMs ?? 30_000);
  return target.signal ? AbortSignal.any([timeout, target.signal]) : timeout;
};

/**
 * Sends one request to Directus with the static token, sorting failures into the kinds above: a refusal that
 * will not change by retrying, and a failure that may. Returns the parsed JSON body of a 2xx answer.
 */
export async function callDirectus(
  target: DirectusTarget, method: string, path: string, body?: unknown, failureOf: FailureOf = anyRouteFailure,
): Promise<unknown> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${target.directusUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: timeoutOr(target),
    });
    text = await res.text();
  } catch (error) {
    throw new DeliveryError(`Directus unreachable: ${(error as Error).message}`, { cause: error });
  }
  if (res.ok) return text ? JSON.parse(text) : null;
  throw failureOf(res.status, text);
}

/**
 * The reason of the facts route's own validation answer (400 INVALID_PAYLOAD with the zod `issues` and a one-line
 * `reason`, see facts-route.ts), or null for any other answer. Recognised by its whole shape, not by the status:
 * a proxy, a Directus still loading the bundle or Directus's own checks can answer 400 too, and only this answer
 * says the batch itself can never be applied.
 */
export function factsValidationReason(status: number, body: string): string | null {
  const extensions = invalidPayload(status, body);
  if (extensions === null) return null;
  const issues = extensions['issues'];
  const zodShaped = (issue: unknown) =>
    typeof issue === 'object' && issue !== null && Array.isArray((issue as { path?: unknown }).path) && typeof (issue as { message?: unknown }).message === 'string';
  if (!Array.isArray(issues) || issues.length === 0 || !issues.every(zodShaped)) return null;
  return extensions['reason'] as string; // a string: invalidPayload checked it
}

/** The extensions of Directus's `400 INVALID_PAYLOAD` answer when its `reason` is a string, else null. */
function invalidPayload(status: number, body: string): Record<string, unknown> | null {
  if (status !== 400) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const extensions = (errors[0] as { extensions?: Record<string, unknown> } | null)?.extensions;
  return extensions && extensions['code'] === 'INVALID_PAYLOAD' && typeof extensions['reason'] === 'string' ? extensions : null;
}

/**
 * A body over the size limit. Directus itself does not answer 413: it wraps the JSON parser's refusal into
 * `400 INVALID_PAYLOAD` with the parser's message as the reason (api/src/app.ts); a proxy in front answers 413.
 */
function isTooLarge(status: number, body: string): boolean {
  return status === 413 || invalidPayload(status, body)?.['reason'] === 'request entity too large';
}

/**
 * `POST /pitwall/facts`: only the route's validation answer refuses a batch for good; a body too large asks for smaller
 * requests; everything else (a 404 while a Directus being deployed has not loaded the bundle yet, 401/403 before
 * setup wrote the token or permissions, 408, 409, 429, 5xx, the network) may pass later and is retried. The same
 * rules hold for every bundle route the pipeline calls (the job runner's run ends too): they answer validation alike.
 */
export const factsFailure: FailureOf = (status, body) => {
  const reason = factsValidationReason(status, body);
  if (reason !== null) return new RejectedBatchError(`invalid fact batch: ${reason}`);
  const message = `HTTP ${status}: ${body.slice(0, 1000)}`;
  return isTooLarge(status, body) ? new PayloadTooLargeError(message) : new DeliveryError(message);
};

/**
 * `POST /pitwall/facts`: one batch of fact changes (the live processor's outbox rows, replay's batches); resolves
 * with Directus's answer (`{data: counts}`).
 */
export async function postFacts(target: DirectusTarget, batch: unknown): Promise<unknown> {
  return callDirectus(target, 'POST', '/pitwall/facts', batch, factsFailure);
}
