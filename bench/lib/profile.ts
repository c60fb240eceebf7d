import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './children.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Only the samples from `fromS` to `toS` seconds after the profile started, or between two
 * readings of the monotonic clock (`process.hrtime.bigint() / 1000n`, in µs: on Linux the
 * same clock as a profile's `startTime`): a benchmark's measured window.
 */
/** CLOCK_MONOTONIC in µs: on Linux the clock of a V8 CPU profile's timestamps. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export interface SampleWindow {
  fromS?: number;
  toS?: number;
  fromMonotonicUs?: number;
  toMonotonicUs?: number;
}

/**
 * A .cpuprofile with its nodes by id and each node's parent; with a window, the samples outside
 * it are dropped, so a profile of a whole child (start-up, seeding, drain) can be read for the
 * seconds that were measured.
 */
function loadProfile(path: string, window: SampleWindow = {}): { profile: CpuProfile; byId: Map<number, ProfileNode>; parent: Map<number, number> } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  if (Object.values(window).some((v) => v !== undefined)) keepWindow(profile, window);
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  return { profile, byId, parent };
}

function keepWindow(profile: CpuProfile, window: SampleWindow): void {
  const fromUs = Math.max((window.fromS ?? 0) * 1e6, (window.fromMonotonicUs ?? -Infinity) - profile.startTime);
  const toUs = Math.min((window.toS ?? Infinity) * 1e6, (window.toMonotonicUs ?? Infinity) - profile.startTime);
  const samples: number[] = [];
  const deltas: number[] = [];
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    samples.push(profile.samples[i]!);
    deltas.push(samples.length === 1 ? 0 : (profile.timeDeltas[i] ?? 0));
  }
  profile.samples = samples;
  profile.timeDeltas = deltas;
}

export interface HotFunction {
  function: string;
  location: string;
  selfMs: number;
  selfPercent: number;
  totalMs: number;
  totalPercent: number;
}

/** The newest *.cpuprofile in `dir`, if any. */
export function newestProfile(dir: string): string | undefined {
  let best: { path: string; mtime: number } | undefined;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!name.endsWith('.cpuprofile')) continue;
    const path = join(dir, name);
    const mtime = statSync(path).mtimeMs;
    if (best === undefined || mtime > best.mtime) best = { path, mtime };
  }
  return best?.path;
}

function shortUrl(url: string): string {
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  if (path === '') return '(native)';
  const rel = relative(REPO_ROOT, path);
  return rel.startsWith('..') ? path : rel;
}

/**
 * Self and total time per function (V8 .cpuprofile from --cpu-prof), hottest by self time.
 * Total time counts a function once per sample even when it recurses.
 */
export function hotFunctions(path: string, top = 25, window: SampleWindow = {}): { totalMs: number; idlePercent: number; gcPercent: number; functions: HotFunction[]; byFile: { file: string; selfPercent: number }[] } {
  const { profile, byId, parent } = loadProfile(path, window);
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const files = new Map<string, number>();
  let sum = 0;
  let idle = 0;
  let gc = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    sum += dt;
    const name = node.callFrame.functionName;
    if (name === '(idle)') idle += dt;
    if (name === '(garbage collector)') gc += dt;
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const file = shortUrl(node.callFrame.url);
    files.set(file, (files.get(file) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      const kk = key(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
  const functions = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, ms]) => {
      const [fn, location] = k.split('\u0000') as [string, string];
      const t = total.get(k) ?? ms;
      return { function: fn, location, selfMs: ms, selfPercent: (ms / sum) * 100, totalMs: t, totalPercent: (t / sum) * 100 };
    });
  const byFile = [...files.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([file, ms]) => ({ file, selfPercent: (ms / sum) * 100 }));
  return { totalMs: sum, idlePercent: (idle / sum) * 100, gcPercent: (gc / sum) * 100, functions, byFile };
}

/** Total (inclusive) time of the functions whose name matches, hottest first: where the time goes from the top. */
export function inclusiveTimes(path: string, names: RegExp, top = 30, window: SampleWindow = {}): { function: string; location: string; totalPercent: number }[] {
  const { profile, byId, parent } = loadProfile(path, window);
  const total = new Map<string, number>();
  let sum = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    sum += dt;
    const seen = new Set<string>();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (n === undefined) break;
      if (!names.test(n.callFrame.functionName)) continue;
      const k = `${n.callFrame.functionName}\u0000${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  }
  return [...total.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => {
    const [fn, location] = k.split('\u0000') as [string, string];
    return { function: fn, location, totalPercent: (t / sum) * 100 };
  });
}
