import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './children.js';

export const RESULTS_DIR = join(REPO_ROOT, 'bench/results');

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
}

/** What the numbers were measured on. */
export function machineInfo(): Record<string, unknown> {
  const natsVersion = run('nats-server', ['--version']) ?? run('/usr/sbin/nats-server', ['--version']);
  const redisVersion = /redis_version:(\S+)/.exec(run('redis-cli', ['INFO', 'server']) ?? '')?.[1];
  return {
    nproc: Number(run('nproc', [])) || cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    natsServer: natsVersion,
    redis: redisVersion,
    gitCommit: run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']),
    /** Others edit src/ on this machine too: how many src files differed from the commit. */
    srcFilesChanged: (run('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'src']) ?? '').split('\n').filter((l) => l !== '').length,
    codeStamp: codeStamp(),
    loadAverage: run('cat', ['/proc/loadavg'])?.split(' ').slice(0, 3).join(' '),
    time: new Date().toISOString(),
  };
}

/** Writes bench/results/<name>.json (overwritten by the next run of the same benchmark). */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify({ machine: machineInfo(), ...(data as object) }, null, 2)}\n`);
  return path;
}

/** A plain-text table with aligned columns (first column left, the rest right). */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Progress lines go to stderr so a script's stdout stays the table. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * A content hash of the compiled service (dist/src/**.js). Other sessions on this machine may
 * rebuild dist/ while a benchmark runs; each measurement records the stamp of the code it ran.
 */
export function codeStamp(): string {
  const hash = createHash('sha1');
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of entries) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.js')) hash.update(name).update(readFileSync(path));
    }
  };
  walk(join(REPO_ROOT, 'dist/src'));
  return hash.digest('hex').slice(0, 12);
}
