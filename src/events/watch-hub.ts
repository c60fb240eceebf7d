import type { ExecutionEvent } from '../domain/execution.js';
import { ResourceExhaustedError } from '../domain/errors.js';
import type { WatchQuery } from '../engine/scheduler-api.js';
import type { Store } from '../store/store.js';

const REPLAY_PAGE = 500;
/** Drop the consumed front of a watcher's queue once it is this long (and half the array). */
const COMPACT_AT = 1024;

class Watcher {
  /** Events from `head` on are waiting; the array is compacted now and then, not shifted. */
  private queue: ExecutionEvent[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private readonly tasks: ReadonlySet<string> | undefined;
  private readonly states: ReadonlySet<string> | undefined;
  failure: Error | undefined;
  closed = false;

  constructor(query: WatchQuery, private readonly limit: number) {
    this.tasks = query.taskNames.length === 0 ? undefined : new Set(query.taskNames);
    this.states = query.states.length === 0 ? undefined : new Set(query.states);
  }

  matches(event: ExecutionEvent): boolean {
    return (this.tasks === undefined || this.tasks.has(event.execution.taskName))
      && (this.states === undefined || this.states.has(event.execution.state));
  }

  push(event: ExecutionEvent): void {
    if (this.closed) return;
    if (this.queue.length - this.head >= this.limit) {
      this.failure = new ResourceExhaustedError(
        `watch stream fell behind by more than ${this.limit} events; reconnect with after_sequence to resume`,
      );
      this.close();
      return;
    }
    this.queue.push(event);
    this.signal();
  }

  close(): void {
    this.closed = true;
    this.signal();
  }

  /** The next queued event, if any (no waiting, no promise). */
  take(): ExecutionEvent | undefined {
    if (this.head === this.queue.length) return undefined;
    const event = this.queue[this.head]!;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AT && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return event;
  }

  /** Resolves when an event is queued or the watcher is closed. */
  waitForMore(): Promise<void> {
    return new Promise<void>((resolve) => { this.wake = resolve; });
  }

  private signal(): void {
    const wake = this.wake;
    if (wake === undefined) return;
    this.wake = undefined;
    wake();
  }
}

/**
 * Fans execution events out to WatchExecutions streams. Each watcher has a bounded queue: a
 * client that does not read is cut off (RESOURCE_EXHAUSTED) instead of growing memory. A watch
 * with after_sequence replays kept history first; live events are queued from before the replay
 * starts and de-duplicated by sequence, so the seam has no gap and no repeat.
 *
 * Every watcher gets the same event object (never changed once published): a transport can
 * encode it once for all of them (the gRPC WatchExecutions handler does).
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
      for (;;) {
        // A watcher cut off for falling behind fails at once, whatever is still queued.
        if (watcher.failure !== undefined) throw watcher.failure;
        const event = watcher.take();
        if (event !== undefined) {
          if (event.sequence <= last) continue;
          last = event.sequence;
          yield event;
          continue;
        }
        if (watcher.closed) return;
        await watcher.waitForMore();
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.watchers.delete(watcher);
      watcher.close();
    }
  }
}
