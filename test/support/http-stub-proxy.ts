import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface StubAnswer {
  status: number;
  body: string;
}

export interface SeenRequest {
  method: string;
  path: string;
  body: string;
  /** The status the client got; `stubbed` when the proxy answered itself instead of Directus. */
  status: number;
  stubbed: boolean;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });

/**
 * An HTTP proxy in front of a real service that can answer in its place: `decide` sees each request and returns an
 * answer to give instead (a 404 of a Directus still loading its extensions, a 503), or null to forward it. Every
 * request is recorded with what the client got.
 */
export class HttpStubProxy {
  private server: Server | null = null;
  readonly seen: SeenRequest[] = [];
  url = '';

  constructor(private readonly target: string, public decide: (req: { method: string; path: string; body: string }) => StubAnswer | null = () => null) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void (async () => {
        const request = { method: req.method ?? 'GET', path: req.url ?? '/', body: await readBody(req) };
        const stub = this.decide(request);
        if (stub) {
          this.seen.push({ ...request, status: stub.status, stubbed: true });
          res.writeHead(stub.status, { 'content-type': 'application/json; charset=utf-8' });
          res.end(stub.body);
          return;
        }
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'content-type']) if (req.headers[name]) headers[name] = String(req.headers[name]);
        const answer = await fetch(`${this.target}${request.path}`, { method: request.method, headers, body: request.body || undefined });
        const text = await answer.text();
        this.seen.push({ ...request, status: answer.status, stubbed: false });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      })().catch((error: Error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`stub proxy: ${error.message}`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
