import { Args } from './lib/args.js';
import { hotFunctions, inclusiveTimes } from './lib/profile.js';
import { formatTable } from './lib/results.js';
import { fmt } from './lib/stats.js';

/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof`, e.g. the service child of a benchmark run
 * with CPBENCH_CPU_PROF=<label> or fire-precision --cpu-prof): hottest functions by self time,
 * time by file, and optionally inclusive time of functions matching --match.
 *
 *   node dist/bench/profile-summary.js bench/results/profiles/<dir>/<file>.cpuprofile --top 30 --match '^(fire|record)$'
 *
 * --from S / --to S keep only the samples S seconds after the profile started (the measured
 * window of a run, without the child's start-up and drain).
 */
const args = new Args();
const path = process.argv[2];
if (path === undefined || path.startsWith('--')) {
  process.stderr.write('usage: profile-summary <file.cpuprofile> [--top N] [--match REGEX]\n');
  process.exit(2);
}
const top = args.number('top', 30);
const window = { fromS: args.number('from', 0), toS: args.number('to', Infinity) };
const hot = hotFunctions(path, top, window);
process.stdout.write(`${path}: ${fmt(hot.totalMs)} ms sampled, idle ${fmt(hot.idlePercent)}%, GC ${fmt(hot.gcPercent)}%\n\n`);
process.stdout.write(`${formatTable(['function (self time)', 'location', 'self %', 'total %'], hot.functions.map((f) => [f.function, f.location, fmt(f.selfPercent), fmt(f.totalPercent)]))}\n\n`);
process.stdout.write(`${formatTable(['file', 'self %'], hot.byFile.map((f) => [f.file, fmt(f.selfPercent)]))}\n`);
const match = args.string('match', '');
if (match !== '') {
  const rows = inclusiveTimes(path, new RegExp(match), top, window);
  process.stdout.write(`\n${formatTable(['function (inclusive)', 'location', 'total %'], rows.map((f) => [f.function, f.location, fmt(f.totalPercent)]))}\n`);
}
