import { Samples, type Summary } from './stats.js';

export interface LoadResult {
  ops: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  opsPerSec: number;
  latency: Summary;
}

/**
 * Keeps `concurrency` calls of `op(i)` in flight until `maxOps` calls were made or `maxMs`
 * passed (whichever first), recording each call's latency in ms. Bounded in count and time.
 */
export async function runLoad(
  op: (i: number) => Promise<unknown>,
  options: { concurrency: number; maxOps: number; maxMs: number; /** Also collect every latency here. */ into?: Samples },
): Promise<LoadResult> {
  const samples = new Samples();
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + options.maxMs;
  const worker = async () => {
    while (next < options.maxOps && performance.now() < deadline) {
      const i = next++;
      const start = performance.now();
      try {
        await op(i);
        const ms = performance.now() - start;
        samples.push(ms);
        options.into?.push(ms);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedMs = performance.now() - t0;
  return {
    ops: samples.length,
    errors,
    firstError,
    elapsedMs,
    opsPerSec: (samples.length / elapsedMs) * 1000,
    latency: samples.summary(),
  };
}
