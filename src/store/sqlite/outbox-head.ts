/**
 * The outbox's head as a publisher reads it: the run of events kept in memory right after
 * `after` (as they were committed), then, past that run, what the file holds. Sequences are
 * handed out one by one by the file's one writer, so a run of consecutive kept sequences is
 * exactly what the file has there.
 */
export function outboxHead<T extends { sequence: number }>(
  kept: ReadonlyMap<number, T>,
  after: number,
  wanted: number,
  lastSequence: number,
  readAfter: (from: number, limit: number) => T[],
): T[] {
  const events: T[] = [];
  for (let next = kept.get(after + 1); next !== undefined && events.length < wanted; next = kept.get(next.sequence + 1)) {
    events.push(next);
  }
  const from = events.length === 0 ? after : events[events.length - 1]!.sequence;
  // Past the kept run: events recorded before a restart, or beyond the bound of what is kept.
  if (events.length === wanted || from >= lastSequence) return events;
  return events.concat(readAfter(from, wanted - events.length));
}

/** Forget kept events at or below the watermark: they have left the outbox (acked or dropped). */
export function forgetPublished(kept: Map<number, unknown>, published: number): void {
  for (const sequence of kept.keys()) {
    if (sequence > published) break;
    kept.delete(sequence);
  }
}
