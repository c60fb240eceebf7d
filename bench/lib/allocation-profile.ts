import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './children.js';

/**
 * Where a window's garbage comes from: V8's sampling heap profiler over a stretch of this
 * process, counting objects the GC has already collected too (which `--heap-prof` leaves out,
 * and which are all a scavenge-bound service's GC time is spent on). One sample per
 * `intervalBytes` allocated on average.
 */
export class AllocationSampler {
  private readonly session = new Session();

  async start(intervalBytes = 4096): Promise<void> {
    this.session.connect();
    await this.session.post('HeapProfiler.enable');
    await this.session.post('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }

  /** Stops, writes the .heapprofile (DevTools opens it) and returns the allocating functions. */
  async stop(path: string, top = 25): Promise<Allocator[]> {
    const { profile } = await this.session.post('HeapProfiler.stopSampling');
    this.session.disconnect();
    writeFileSync(path, JSON.stringify(profile));
    return allocators(profile.head, top);
  }
}

export interface Allocator {
  function: string;
  location: string;
  percent: number;
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** Bytes allocated by each function itself (not its callees), largest first. */
function allocators(head: SamplingNode, top: number): Allocator[] {
  const bytes = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode) => {
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const file = url.startsWith('file://') ? relative(REPO_ROOT, fileURLToPath(url)) : url || '(native)';
      const key = `${functionName || '(anonymous)'}\u0000${file}:${lineNumber + 1}`;
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child);
  };
  walk(head);
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, size]) => {
      const [fn, location] = key.split('\u0000') as [string, string];
      return { function: fn, location, percent: (100 * size) / total };
    });
}
