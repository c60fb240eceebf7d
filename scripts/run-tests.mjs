// Runs the compiled tests with Node's built-in runner. Node 20's --test takes no globs,
// so the files are listed here. Argument: "unit", "integration" or nothing for both.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const kinds = process.argv[2] ? [process.argv[2]] : ['unit', 'integration'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js')) files.push(path);
  }
}
for (const kind of kinds) {
  try { walk(join('dist', 'test', kind)); } catch { /* no tests of this kind yet */ }
}
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
