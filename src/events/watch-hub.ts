import type { ExecutionEvent } from '../domain/execution.js';
import { ResourceExhaustedError } from '../domain/errors.js';
import type { WatchQuery } from '../engine/scheduler-api.js';
import type { Store } from '../store/store.js';

const REPLAY_PAGE = 500;

class Watcher {
  private queue: ExecutionEvent[] = [];
  private wake: (() => void) | undefined;
  failure: Error | undefined;
  closed = false;

  constructor(private readonly query: WatchQuery, private readonly limit: number) {}

  matches(event: ExecutionEvent): boolean {
    const q = this.query;
    return (q.taskNames.length === 0 || q.taskNames.includes(event.execution.taskName))
      && (q.states.length === 0 || q.states.includes(event.execution.state));
  }

  push(event: ExecutionEvent): void {
    if (this.closed) return;
    if (this.queue.length >= this.limit) {
      this.failure = new ResourceExhaustedError(
        `watch stream fell behind by more than ${this.limit} events; reconnect with after_sequence to resume`,
      );
      this.close();
      return;
    }
    this.queue.push(event);
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Next queued event, waiting for one; undefined once closed and drained. */
  async next(): Promise<ExecutionEvent | undefined> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const event = this.queue.shift();
      if (event !== undefined) return event;
      if (this.closed) return undefined;
      await new Promise<void>((r) => { this.wake = r; });
      this.wake = undefined;
    }
  }
}

/**
 * Fans execution events out to WatchExecutions streams. Each watcher has a bounded queue: a
 * client that does not read is cut off (RESOURCE_EXHAUSTED) instead of growing memory. A watch
 * with after_sequence replays kept history first; live events are queued from before the replay
 * starts and de-duplicated by sequence, so the seam has no gap and no repeat.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();

  constructor(private readonly store: Store, private readonly maxQueued = 10_000) {}

  get size(): number {
    return this.watchers.size;
  }

  publish(event: ExecutionEvent): void {
    for (const w of this.watchers) if (w.matches(event)) w.push(event);
  }

  /** Ends every stream, e.g. at shutdown. */
  closeAll(): void {
    for (const w of this.watchers) w.close();
  }

  async *watch(query: WatchQuery, signal: AbortSignal): AsyncGenerator<ExecutionEvent> {
    const watcher = new Watcher(query, this.maxQueued);
    this.watchers.add(watcher);
    const onAbort = () => watcher.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let last = query.afterSequence ?? 0;
      if (query.afterSequence !== undefined) {
        for (;;) {
          const page = await this.store.eventsAfter(last, REPLAY_PAGE);
          for (const event of page) {
            if (signal.aborted) return;
            last = event.sequence;
            if (watcher.matches(event)) yield event;
          }
          if (page.length < REPLAY_PAGE) break;
        }
      }
      for (let event = await watcher.next(); event !== undefined; event = await watcher.next()) {
        if (event.sequence <= last) continue;
        last = event.sequence;
        yield event;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.watchers.delete(watcher);
      watcher.close();
    }
  }
}
