/**
 * Tiny flag parser for the benchmark scripts: `--name value`, `--name=value` and bare
 * `--flag` (true). Every benchmark is runnable on its own with the same flags run-all passes.
 */
export class Args {
  private readonly values = new Map<string, string>();

  constructor(argv: string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (!arg.startsWith('--')) continue;
      const eq = arg.indexOf('=');
      if (eq > 0) {
        this.values.set(arg.slice(2, eq), arg.slice(eq + 1));
      } else {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('--')) {
          this.values.set(arg.slice(2), next);
          i++;
        } else {
          this.values.set(arg.slice(2), 'true');
        }
      }
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  string(name: string, def: string): string {
    return this.values.get(name) ?? def;
  }

  number(name: string, def: number): number {
    const v = this.values.get(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name}: expected a number, got "${v}"`);
    return n;
  }

  /** A comma-separated list of numbers, e.g. `--tasks 1000,10000`. */
  numbers(name: string, def: number[]): number[] {
    const v = this.values.get(name);
    if (v === undefined) return def;
    return v.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isFinite(n)) throw new Error(`--${name}: expected numbers, got "${v}"`);
      return n;
    });
  }

  list(name: string, def: string[]): string[] {
    const v = this.values.get(name);
    if (v === undefined) return def;
    return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }

  flag(name: string): boolean {
    const v = this.values.get(name);
    return v !== undefined && v !== 'false' && v !== '0';
  }
}

/** True when this module is the script node was started with (not imported by run-all). */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  return new URL(metaUrl).pathname === entry || new URL(metaUrl).pathname === `${entry}.js`;
}
