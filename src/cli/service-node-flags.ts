/**
 * Node.js flags the service runs with (`make run`, deploy/systemd/cronplane.service and the
 * benchmarks; test/unit/deploy.test.ts keeps them equal). A fire allocates many short-lived
 * objects (execution snapshots, events, messages): with the default 16 MiB semi-spaces they
 * outlive a scavenge while their writes are in flight and are promoted, which made GC a quarter
 * of the event loop's work at 5k fires/s. 64 MiB lets them die young (bench/fire-precision:
 * main thread 89% -> 82% of a core at 5k, p99 300 -> 216 ms at 10k), for at most ~150 MiB
 * more resident memory under that load.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
