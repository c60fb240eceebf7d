/**
 * A binary min-heap of (key, time) with O(log n) update and removal by key: the engine keeps
 * one entry per enabled task and one timer for the whole heap, never a timer per task.
 */
export class TimerHeap {
  private keys: string[] = [];
  private times: number[] = [];
  private index = new Map<string, number>();
  /** False between deferOrder() and the next look at the top: sets and deletes do not sift. */
  private ordered = true;

  get size(): number {
    return this.keys.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** When `key` is due; undefined when it is not in the heap. */
  timeOf(key: string): number | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.times[i];
  }

  /**
   * Take the coming sets and deletes without ordering the heap; the next peek or popDue orders
   * it all at once. A start's million inserts then cost one O(n) pass, not a sift each.
   */
  deferOrder(): void {
    this.ordered = false;
  }

  /** The entry due first, without removing it. */
  peek(): { key: string; at: number } | undefined {
    if (!this.ordered) this.order();
    return this.keys.length === 0 ? undefined : { key: this.keys[0]!, at: this.times[0]! };
  }

  /** Insert or move `key` to `at`. */
  set(key: string, at: number): void {
    const i = this.index.get(key);
    if (i === undefined) {
      this.keys.push(key);
      this.times.push(at);
      this.index.set(key, this.keys.length - 1);
      if (this.ordered) this.up(this.keys.length - 1);
      return;
    }
    const old = this.times[i]!;
    this.times[i] = at;
    if (!this.ordered) return;
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
    if (i < this.keys.length && this.ordered) {
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

  /** Floyd's heap construction; positions are written to the index once, at the end. */
  private order(): void {
    this.ordered = true;
    const { keys, times } = this;
    const n = keys.length;
    for (let start = (n >> 1) - 1; start >= 0; start--) {
      let i = start;
      for (;;) {
        const l = 2 * i + 1;
        let m = i;
        if (l < n && times[l]! < times[m]!) m = l;
        if (l + 1 < n && times[l + 1]! < times[m]!) m = l + 1;
        if (m === i) break;
        [keys[i], keys[m]] = [keys[m]!, keys[i]!];
        [times[i], times[m]] = [times[m]!, times[i]!];
        i = m;
      }
    }
    for (let i = 0; i < n; i++) this.index.set(keys[i]!, i);
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
