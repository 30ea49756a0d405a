/**
 * Replaying a dead-letter file (later `berth events replay`): its events are handed to a sink again,
 * in the file's order, and the file is emptied of what was handed over.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import { isImageActionEvent } from '../contracts/events';
import type { EventSink } from '../core/events';
import { appendLines } from './append-lines';

export interface ReplayOutcome {
  /** Events the sink took (delivered, or dead-lettered anew by it). */
  replayed: number;
  /** Lines that are not dead letters of an image event, written back to the file untouched. */
  unreadable: number;
}

/**
 * The file is first renamed aside, so that a sink that dead-letters into the same file (a webhook
 * sink does, when the receiver still fails) starts a new one instead of feeding this replay. The
 * events then go to the sink one by one; if the sink rejects one, it and those after it are appended
 * back to the file and the rejection is raised. A crash during a replay leaves the aside file
 * (`<file>.replay-<pid>-<time>`): replaying it delivers its events again, at least once as always.
 */
export async function replayDeadLetters(file: string, sink: EventSink): Promise<ReplayOutcome> {
  const aside = `${file}.replay-${process.pid}-${Date.now()}`;
  try {
    await rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { replayed: 0, unreadable: 0 };
    throw error;
  }
  const lines = (await readFile(aside, 'utf8')).split('\n').filter((line) => line.trim() !== '');
  const unreadable: string[] = [];
  let replayed = 0;
  for (const [index, line] of lines.entries()) {
    const event = eventOf(line);
    if (event === undefined) {
      unreadable.push(line);
      continue;
    }
    try {
      await sink.deliver([event]);
      replayed += 1;
    } catch (error) {
      await appendLines(file, [...unreadable, ...lines.slice(index)], 0o600);
      await rm(aside, { force: true });
      throw error;
    }
  }
  await appendLines(file, unreadable, 0o600);
  await rm(aside, { force: true });
  return { replayed, unreadable: unreadable.length };
}

function eventOf(line: string): ReturnType<typeof pickEvent> {
  try {
    return pickEvent(JSON.parse(line));
  } catch {
    return undefined;
  }
}

function pickEvent(letter: unknown) {
  const event = (letter as { event?: unknown } | null)?.event;
  return isImageActionEvent(event) ? event : undefined;
}
