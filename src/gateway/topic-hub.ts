import { sharedFrame, type Viewer } from './viewer.ts';

/** Who listens to which topic; a position is serialised and framed once per topic, then sent as is to every viewer. */
export class TopicHub {
  private readonly topics = new Map<string, Set<Viewer>>();

  add(topic: string, viewer: Viewer): void {
    const viewers = this.topics.get(topic) ?? new Set();
    viewers.add(viewer);
    this.topics.set(topic, viewers);
  }

  remove(topic: string, viewer: Viewer): void {
    const viewers = this.topics.get(topic);
    if (!viewers) return;
    viewers.delete(viewer);
    if (viewers.size === 0) this.topics.delete(topic);
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  subscriptions(): number {
    let n = 0;
    for (const viewers of this.topics.values()) n += viewers.size;
    return n;
  }

  /** Sends one position to the topic's viewers; returns how many it went to. */
  publish(topic: string, cursor: string, message: object): number {
    const viewers = this.topics.get(topic);
    if (!viewers) return 0;
    const frame = sharedFrame(JSON.stringify(message));
    let sent = 0;
    for (const viewer of viewers) {
      viewer.deliver(topic, cursor, frame);
      sent++;
    }
    return sent;
  }
}
