import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** The /healthz body of every process: `reasons` names what makes it unhealthy (empty when `ok`). */
export interface HealthReport {
  ok: boolean;
  reasons: string[];
  [detail: string]: unknown;
}

/** The /healthz body: `ok` and `reasons` first, then what was seen. Every process answers this shape. */
export function healthReport<D extends Record<string, unknown>>(reasons: readonly string[], details: D): { ok: boolean; reasons: string[] } & D {
  return { ok: reasons.length === 0, reasons: [...reasons], ...details };
}

export type Probed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Runs one health check with a time limit, so /healthz answers promptly when a connection is gone (a query waits
 * for a pool connection, a Redis command for the reconnection) and says so instead of hanging.
 */
export async function probe<T>(check: () => Promise<T>, timeoutMs: number): Promise<Probed<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Probed<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  const checked = check().then(
    (value): Probed<T> => ({ ok: true, value }),
    (error: unknown): Probed<T> => ({ ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
  try {
    return await Promise.race([checked, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A probe that concurrent callers share: the gauges of one scrape (prom-client collects them at once) and a /healthz
 * beside it cost one check, not one each.
 */
export function sharedProbe<T>(check: () => Promise<T>, timeoutMs: number): () => Promise<Probed<T>> {
  let inFlight: Promise<Probed<T>> | null = null;
  return () => (inFlight ??= probe(check, timeoutMs).finally(() => setTimeout(() => (inFlight = null), 0)));
}

/** The `errors` of a /healthz body: why each failing check failed, named by what it checked; nothing when none did. */
export function healthErrors(failures: Record<string, Probed<unknown> | string | null>): { errors?: Record<string, string> } {
  const errors: Record<string, string> = {};
  for (const [name, failure] of Object.entries(failures)) {
    if (typeof failure === 'string') errors[name] = failure;
    else if (failure !== null && !failure.ok) errors[name] = failure.error;
  }
  return Object.keys(errors).length > 0 ? { errors } : {};
}

/**
 * Serves GET /metrics (Prometheus text) and GET /healthz on one port: 200 when healthy, 503 otherwise, with the
 * report as JSON either way.
 */
export function serveMetrics(registry: Registry, port: number, health: () => Promise<HealthReport>): Promise<Server> {
  const server = createServer((req, res) => {
    // Whose answer this is: a supervisor that started a process can tell it from another holding the port.
    res.setHeader('x-pitwall-pid', String(process.pid));
    const path = (req.url ?? '/').split('?')[0];
    const reply = async () => {
      if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
      } else if (req.method === 'GET' && path === '/healthz') {
        const report = await health();
        res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(report));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found' }));
      }
    };
    reply().catch((error: Error) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: error.message }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}
