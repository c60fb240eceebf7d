/** Text decorations for people at a terminal; every function is the identity when colour is off. */
export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  /** A task or execution state in the colour of its meaning (green good, red bad, yellow attention). */
  state(name: string): string;
}

const GOOD = new Set(['SUCCEEDED', 'ENABLED']);
const BAD = new Set(['FAILED', 'TIMED_OUT', 'LOST']);
const ATTENTION = new Set(['PAUSED', 'RETRYING', 'SKIPPED', 'MISSED', 'CANCELLED']);
const ACTIVE = new Set(['RUNNING', 'PENDING']);

/** Colour only on a TTY, and never when NO_COLOR is set (https://no-color.org): pipes stay plain. */
export function createStyle(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Style {
  const enabled = stream.isTTY === true && (env['NO_COLOR'] ?? '') === '';
  const sgr = (open: number, close: number) => (text: string) => (enabled && text !== '' ? `\u001b[${open}m${text}\u001b[${close}m` : text);
  const style: Style = {
    enabled,
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    state(name: string): string {
      if (GOOD.has(name)) return style.green(name);
      if (BAD.has(name)) return style.red(name);
      if (ATTENTION.has(name)) return style.yellow(name);
      if (ACTIVE.has(name)) return style.cyan(name);
      return name;
    },
  };
  return style;
}
