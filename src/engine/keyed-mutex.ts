/**
 * Serialises async work per key (per task name), so a control-plane update and the engine's
 * own status write of the same task never interleave between read and compare-and-set.
 */
const SETTLED: Promise<void> = Promise.resolve();

export class KeyedMutex {
  private tails = new Map<string, Promise<unknown>>();

  /** Nothing runs or waits for `key`: a `run` now would start at once. */
  idle(key: string): boolean {
    return !this.tails.has(key);
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? SETTLED;
    const result = prev.then(fn, fn);
    // Settles after `fn`, either way, and forgets the key if nothing queued behind it meanwhile
    // (this runs on every fire: two promises, not four).
    const release = () => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    const tail: Promise<void> = result.then(release, release);
    this.tails.set(key, tail);
    return result;
  }
}
