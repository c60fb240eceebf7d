import { createHash } from 'node:crypto';

/** How long this replica waits before trying to claim an occurrence: 0 if it is the task's owner. */
export type Placement = (taskName: string, scheduledTime: number) => number;

/**
 * Rendezvous (highest random weight) hashing over the live replicas: each task has one owner
 * that claims its occurrences at once; the others try only after `takeoverDelayMs`, so the
 * work spreads over replicas and a dead owner's occurrences are still run, at most that late.
 * The claim in the store keeps it exactly once either way.
 */
export function rendezvousPlacement(self: string, liveNodes: () => readonly string[], takeoverDelayMs: number): Placement {
  return (taskName) => (ownerOf(taskName, liveNodes(), self) === self ? 0 : takeoverDelayMs);
}

/** The live node with the highest hash of (node, task); `self` counts as live. */
export function ownerOf(taskName: string, nodes: readonly string[], self: string): string {
  let best = self;
  let bestScore = score(self, taskName);
  for (const node of nodes) {
    const s = score(node, taskName);
    if (s > bestScore || (s === bestScore && node < best)) {
      best = node;
      bestScore = s;
    }
  }
  return best;
}

function score(node: string, taskName: string): bigint {
  return createHash('sha256').update(node).update('\0').update(taskName).digest().readBigUInt64BE(0);
}
