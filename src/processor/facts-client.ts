/** Directus answered that this batch can never be applied as it is: retrying would block every later batch. */
export class RejectedBatchError extends Error {
  override name = 'RejectedBatchError';
}

/** Directus or the network failed this time; the same batch is tried again. */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

// 401 and 403 are retried: a token or permission that setup has not written yet will be there later.
const permanent = new Set([400, 404, 409, 413, 422]);

export interface DirectusTarget {
  directusUrl: string;
  token: string;
  requestTimeoutMs?: number;
}

/**
 * Sends one request to Directus with the static token, sorting failures into the two kinds above: a refusal that
 * will not change by retrying, and a failure that may. Returns the parsed JSON body of a 2xx answer.
 */
export async function callDirectus(target: DirectusTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${target.directusUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(target.requestTimeoutMs ?? 30_000),
    });
  } catch (error) {
    throw new DeliveryError(`Directus unreachable: ${(error as Error).message}`, { cause: error });
  }
  const text = await res.text();
  if (res.ok) return text ? JSON.parse(text) : null;
  if (permanent.has(res.status)) throw new RejectedBatchError(`HTTP ${res.status}: ${text.slice(0, 1000)}`);
  throw new DeliveryError(`HTTP ${res.status}: ${text.slice(0, 1000)}`);
}

/** `POST /pitwall/facts`: one batch of fact changes (the live processor's outbox rows, replay's batches). */
export async function postFacts(target: DirectusTarget, batch: unknown): Promise<void> {
  await callDirectus(target, 'POST', '/pitwall/facts', batch);
}
