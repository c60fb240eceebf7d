import { readFileSync } from 'node:fs';
import { cpuSeconds } from './proc.js';
import { log } from './results.js';
import { sleep } from './children.js';

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = v[0]! + v[1]! + v[2]! + v[5]! + v[6]! + (v[7] ?? 0);
  return busy / 100;
}

/**
 * CPU used on the machine during a measurement by processes that are not part of it (other
 * people's test runs on a shared box): total busy CPU minus the listed processes. In % of one
 * core; this machine has 2 cores, so 200% is everything.
 */
export class NoiseMeter {
  private start0 = 0;
  private wall0 = 0;
  private readonly own = new Map<number, number>();

  start(pids: number[]): void {
    this.start0 = machineBusySeconds();
    this.wall0 = performance.now();
    this.own.clear();
    for (const pid of new Set([process.pid, ...pids])) this.own.set(pid, cpuSeconds(pid) ?? 0);
  }

  stop(): { machinePercent: number; otherPercent: number } {
    const wall = (performance.now() - this.wall0) / 1000;
    const total = machineBusySeconds() - this.start0;
    let own = 0;
    for (const [pid, c0] of this.own) own += (cpuSeconds(pid) ?? c0) - c0;
    return { machinePercent: (total / wall) * 100, otherPercent: Math.max(0, ((total - own) / wall) * 100) };
  }
}

let quietWaitCapMs = Number(process.env['CPBENCH_QUIET_WAIT_MS'] ?? Infinity);

/** Caps every waitForQuiet (run-all --quick keeps it short so the smoke run stays short). */
export function capQuietWait(ms: number): void {
  quietWaitCapMs = Math.min(quietWaitCapMs, ms);
}

/**
 * Wait (bounded) until the machine is quiet: busy CPU below `thresholdPercent` of one core for
 * two consecutive seconds. Other sessions may be running tests on this box; a benchmark that
 * starts in the middle of them measures them too. Returns how long it waited.
 */
export async function waitForQuiet(what: string, maxWait = 90_000, thresholdPercent = 30): Promise<{ waitedMs: number; lastBusyPercent: number }> {
  const maxWaitMs = Math.min(maxWait, quietWaitCapMs);
  const t0 = performance.now();
  let calm = 0;
  let last = 0;
  let told = false;
  while (performance.now() - t0 < maxWaitMs) {
    const b0 = machineBusySeconds();
    const w0 = performance.now();
    await sleep(1_000);
    last = ((machineBusySeconds() - b0) / ((performance.now() - w0) / 1000)) * 100;
    if (last < thresholdPercent) {
      if (++calm >= 2) break;
    } else {
      calm = 0;
      if (!told) {
        log(`${what}: machine busy (${Math.round(last)}% of a core used by others); waiting up to ${Math.round(maxWaitMs / 1000)} s for quiet`);
        told = true;
      }
    }
  }
  const waitedMs = performance.now() - t0;
  if (told) log(`${what}: ${calm >= 2 ? 'quiet' : 'still busy'} after ${Math.round(waitedMs / 1000)} s (last ${Math.round(last)}%)`);
  return { waitedMs, lastBusyPercent: last };
}
