import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on Linux almost always). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system) a process has used so far; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM (peak) of a process in MiB, from /proc/<pid>/status. */
export function memoryMiB(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Measures a process's CPU over an interval: start(), then stop() gives % of one core. */
export class CpuMeter {
  private startCpu: number | undefined;
  private startWall = 0;

  constructor(readonly pid: number) {}

  start(): void {
    this.startCpu = cpuSeconds(this.pid);
    this.startWall = performance.now();
  }

  /** Percent of one core used since start() (200% = both cores of this machine). */
  stop(): { cpuSeconds: number; percent: number } | undefined {
    const end = cpuSeconds(this.pid);
    if (end === undefined || this.startCpu === undefined) return undefined;
    const wall = (performance.now() - this.startWall) / 1000;
    const used = end - this.startCpu;
    return { cpuSeconds: used, percent: (used / wall) * 100 };
  }
}

/** The pid of the local redis-server, asked through `redis-cli INFO server` (undefined if unknown). */
export function redisPid(port = 6379): number | undefined {
  try {
    const info = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'server'], { encoding: 'utf8', timeout: 5_000 });
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the nats-server listening on `port`, found through its /proc command line (best effort). */
export function natsServerPid(port = 4222): number | undefined {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8', timeout: 5_000 });
    const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
