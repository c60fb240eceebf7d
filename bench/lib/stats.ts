/** Latency summary in milliseconds. */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  min: number;
}

/** Nearest-rank percentile of a sorted array (q in 0..1). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Sorts a copy (as a Float64Array, so large sample sets stay compact). */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    count: sorted.length,
    mean: sorted.length === 0 ? NaN : sum / sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    min: sorted.length === 0 ? NaN : sorted[0]!,
  };
}

/** A growable Float64 sample buffer: no boxed numbers for hundreds of thousands of samples. */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }

  summary(): Summary {
    return summarize(this.view());
  }
}

/** Rounds for tables and JSON: 2 decimals below 10, 1 below 1000, none above. */
export function round(n: number): number {
  if (!Number.isFinite(n)) return n;
  const a = Math.abs(n);
  if (a < 10) return Math.round(n * 100) / 100;
  if (a < 1000) return Math.round(n * 10) / 10;
  return Math.round(n);
}

export function fmt(n: number | undefined, unit = ''): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  if (!Number.isFinite(n)) return String(n);
  return `${round(n).toLocaleString('en-US')}${unit}`;
}
