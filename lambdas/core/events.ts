/**
 * The port through which image events leave the registry (issue 11). The outbox that feeds it and
 * the points that record changes come later; the adapters are in lambdas/events/ (a file, webhooks)
 * and, on AWS, the EventBridge publisher. Shapes are the contract's (contracts/events.ts).
 */
import { randomUUID } from 'node:crypto';
import { imageActionEvent, type EventOrigin, type ImageActionEvent, type ImageChange } from '../contracts/events';

export type { EventOrigin, ImageActionEvent, ImageChange } from '../contracts/events';

/**
 * Where events go. `deliver` resolves once every event it was given is delivered or durably kept
 * where an operator can replay it (a dead letter); it rejects when that may not be so for some of
 * them, and the caller then keeps all of them and calls again later. Delivery is therefore at least
 * once: a consumer may see an event twice and deduplicates on `detail['berth-event-id']`.
 */
export interface EventSink {
  deliver(events: readonly ImageActionEvent[]): Promise<void>;
}

/** A new change's event id: made once, when the change is recorded, and kept by every retry. */
export function newEventId(): string {
  return randomUUID();
}

/** The events of recorded changes, each with a fresh envelope id as EventBridge gives one per send. */
export function eventsOf(changes: readonly ImageChange[], origin: EventOrigin): ImageActionEvent[] {
  return changes.map((change) => imageActionEvent(change, origin, randomUUID()));
}

/**
 * Every sink gets every event, side by side (the events file and each webhook); it rejects when one
 * of them did, after all have finished, so a retry repeats the events to all of them and the ones
 * that had them see duplicates, which `berth-event-id` lets them drop.
 */
export function fanOut(sinks: readonly EventSink[]): EventSink {
  return {
    async deliver(events) {
      const outcomes = await Promise.allSettled(sinks.map((sink) => sink.deliver(events)));
      const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `${failures.length} of ${sinks.length} event sinks failed`);
    },
  };
}
