import { MsgHdrsImpl, type Match, type MsgHdrs } from '@nats-io/transport-node';

/**
 * NATS headers with their wire form written once up front: a plain publish asks its headers
 * only for `encode()`, and MsgHdrsImpl's per-header validation and canonicalisation cost more
 * than the rest of a publish (the CloudEvents headers of every event, the run headers of every
 * action). The MsgHdrsImpl that nats.js would have built is made only when something asks more
 * than `encode()` (a read, a change); from then on everything, `encode()` too, goes to it.
 */
class PreparedHeaders implements MsgHdrs {
  private full: MsgHdrsImpl | undefined;

  /** Names and values pair up, names distinct and exact-case, as `wire` has them. */
  constructor(
    private readonly headerNames: readonly string[],
    private readonly headerValues: readonly string[],
    private readonly wire: Uint8Array,
  ) {}

  encode(): Uint8Array {
    return this.full === undefined ? this.wire : this.full.encode();
  }

  private headers(): MsgHdrsImpl {
    if (this.full === undefined) {
      const full = new MsgHdrsImpl();
      for (let i = 0; i < this.headerNames.length; i++) full.headers.set(this.headerNames[i]!, [this.headerValues[i]!]);
      this.full = full;
    }
    return this.full;
  }

  get hasError(): boolean {
    return this.headers().hasError;
  }
  get status(): string {
    return this.headers().status;
  }
  get code(): number {
    return this.headers().code;
  }
  get description(): string {
    return this.headers().description;
  }
  get(k: string, match?: Match): string {
    return this.headers().get(k, match as 'exact' | undefined);
  }
  set(k: string, v: string, match?: Match): void {
    this.headers().set(k, v, match);
  }
  append(k: string, v: string, match?: Match): void {
    this.headers().append(k, v, match);
  }
  has(k: string, match?: Match): boolean {
    return this.headers().has(k, match);
  }
  keys(): string[] {
    return this.headers().keys();
  }
  values(k: string, match?: Match): string[] {
    return this.headers().values(k, match);
  }
  delete(k: string, match?: Match): void {
    this.headers().delete(k, match);
  }
  last(k: string, match?: Match): string {
    return this.headers().last(k, match as 'exact' | undefined);
  }
  toString(): string {
    return this.headers().toString();
  }
  [Symbol.iterator](): IterableIterator<[string, string[]]> {
    return this.headers()[Symbol.iterator]();
  }
}

/** A name MsgHdrsImpl takes as it is: printable ASCII without ':' (it throws on anything else). */
function plainName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 33 || c > 126 || c === 58) return false;
  }
  return name.length > 0;
}

/** A value MsgHdrsImpl stores unchanged: no line break (it throws) and no surrounding blanks (it trims). */
export function plainValue(value: string): boolean {
  return !/[\r\n]/.test(value) && value.trim() === value;
}

/**
 * Prepared headers from names and values the caller has checked (plain names, distinct; plain
 * values): what `headers()` followed by `set(name, value)` for each would send.
 */
export function preparedPlainHeaders(names: readonly string[], values: readonly string[]): MsgHdrs {
  let text = 'NATS/1.0';
  for (let i = 0; i < names.length; i++) text += `\r\n${names[i]}: ${values[i]}`;
  return new PreparedHeaders(names, values, Buffer.from(`${text}\r\n\r\n`, 'utf8'));
}

/** Names found plain (header names are few: the run headers and the tasks' own), so each is scanned once. */
const plainNames = new Set<string>();
const MAX_PLAIN_NAMES = 10_000;

function knownPlainName(name: string): boolean {
  if (plainNames.has(name)) return true;
  if (!plainName(name)) return false;
  if (plainNames.size >= MAX_PLAIN_NAMES) plainNames.clear();
  plainNames.add(name);
  return true;
}

/**
 * Headers as `headers()` followed by `set(name, value)` for each entry of each record in order
 * would make them (exact-case names; a repeated name keeps its last value, placed last),
 * prepared for the wire. Undefined when a name or value is one MsgHdrsImpl would refuse or
 * change: the caller then builds them the ordinary way, with the same outcome (or error) as before.
 */
export function preparedHeaders(...records: ReadonlyArray<Readonly<Record<string, string>>>): MsgHdrs | undefined {
  const names: string[] = [];
  const values: string[] = [];
  for (const record of records) {
    for (const name of Object.keys(record)) {
      const value = record[name]!;
      if (!knownPlainName(name) || !plainValue(value)) return undefined;
      // A handful of headers: a scan is cheaper than a Map.
      const earlier = names.indexOf(name);
      if (earlier >= 0) {
        names.splice(earlier, 1);
        values.splice(earlier, 1);
      }
      names.push(name);
      values.push(value);
    }
  }
  // No header at all encodes as nothing in nats.js, not as an empty header block.
  return names.length === 0 ? undefined : preparedPlainHeaders(names, values);
}
