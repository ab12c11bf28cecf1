import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface Receipt {
  at: number;
  raw: string;
  headers: IncomingHttpHeaders;
  /** The answer; 0 when the sender was gone before it was given. */
  status: number;
  eventId: string;
  attempt: number;
}

/** What the receiver does with one request: answer with a status, or hold it unanswered until the sender goes. */
export type Answer = number | 'hold';

/**
 * An integrator's endpoint on 127.0.0.1: records every request it got (`arrivals` as they come in, `receipts` once
 * answered, or once the sender went away); answers 200 unless `script` said otherwise for that event.
 */
export class WebhookReceiver {
  readonly receipts: Receipt[] = [];
  readonly arrivals: { eventId: string; attempt: number }[] = [];
  url = '';
  private readonly scripts = new Map<string, Answer[]>();
  private readonly server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const eventId = String(req.headers['pitwall-event-id']);
      const attempt = Number(req.headers['pitwall-delivery-attempt']);
      this.arrivals.push({ eventId, attempt });
      const answer = this.scripts.get(eventId)?.shift() ?? 200;
      const record = (status: number) => this.receipts.push({ at: Date.now(), raw, headers: req.headers, status, eventId, attempt });
      if (answer === 'hold') {
        // Recorded as unanswered when the sender closes the connection (it timed out, stopped or died).
        res.on('close', () => record(0));
        return;
      }
      record(req.socket.destroyed ? 0 : answer);
      if (!req.socket.destroyed) res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer === 200 ? 'ok' : 'try later');
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/pitwall`;
    return this;
  }

  /** The answers to the next requests for this event, in order; 200 once they are used up. */
  script(eventId: string, answers: Answer[]): void {
    this.scripts.set(eventId, [...answers]);
  }

  /** How many 2xx answers each event id got: what an integrator de-duplicating on pitwall-event-id sees. */
  deliveredCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.receipts) if (r.status >= 200 && r.status < 300) counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
    return counts;
  }

  /** Each request for the event as [attempt, answer], in the order they were answered. */
  requestsFor(eventId: string): [number, number][] {
    return this.receipts.filter((r) => r.eventId === eventId).map((r) => [r.attempt, r.status]);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
