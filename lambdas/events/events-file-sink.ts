/**
 * `--events-file FILE`: each event as one JSON line appended to a file, for `tail -f | jq`, tests
 * and consumers that read a file. Appends and fsync as append-lines.ts says: one write per line,
 * one flush per delivery before it resolves.
 */
import type { EventSink, ImageActionEvent } from '../core/events';
import { appendLines } from './append-lines';

export class EventsFileSink implements EventSink {
  constructor(private readonly file: string) {}

  async deliver(events: readonly ImageActionEvent[]): Promise<void> {
    await appendLines(this.file, events.map((event) => JSON.stringify(event)));
  }
}
