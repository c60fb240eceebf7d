/**
 * A binary min-heap of (key, time) with O(log n) update and removal by key: the engine keeps
 * one entry per enabled task and one timer for the whole heap, never a timer per task.
 */
export class TimerHeap {
  private keys: string[] = [];
  private times: number[] = [];
  private index = new Map<string, number>();

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** The entry due first, without removing it. */
  peek(): { key: string; at: number } | undefined {
    return this.keys.length === 0 ? undefined : { key: this.keys[0]!, at: this.times[0]! };
  }

  /** Insert or move `key` to `at`. */
  set(key: string, at: number): void {
    const i = this.index.get(key);
    if (i === undefined) {
      this.keys.push(key);
      this.times.push(at);
      this.index.set(key, this.keys.length - 1);
      this.up(this.keys.length - 1);
      return;
    }
    const old = this.times[i]!;
    this.times[i] = at;
    if (at < old) this.up(i);
    else this.down(i);
  }

  delete(key: string): boolean {
    const i = this.index.get(key);
    if (i === undefined) return false;
    const last = this.keys.length - 1;
    this.swap(i, last);
    this.keys.pop();
    this.times.pop();
    this.index.delete(key);
    if (i < this.keys.length) {
      this.up(i);
      this.down(i);
    }
    return true;
  }

  /** Remove and return the first entry if it is due at or before `now`. */
  popDue(now: number): { key: string; at: number } | undefined {
    const top = this.peek();
    if (top === undefined || top.at > now) return undefined;
    this.delete(top.key);
    return top;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= this.times[i]!) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.times[l]! < this.times[m]!) m = l;
      if (r < n && this.times[r]! < this.times[m]!) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    [this.keys[a], this.keys[b]] = [this.keys[b]!, this.keys[a]!];
    [this.times[a], this.times[b]] = [this.times[b]!, this.times[a]!];
    this.index.set(this.keys[a]!, a);
    this.index.set(this.keys[b]!, b);
  }
}
