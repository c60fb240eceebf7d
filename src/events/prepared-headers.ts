import { MsgHdrsImpl, type MsgHdrs } from '@nats-io/transport-node';

/**
 * NATS headers with their wire form written once up front: a plain publish asks its headers
 * only for `encode()`, and MsgHdrsImpl's per-header validation and canonicalisation cost more
 * than the rest of a publish (the CloudEvents headers of every event, the run headers of every
 * action). The map is filled too, so reads still work; any change drops the prepared bytes.
 */
class PreparedHeaders extends MsgHdrsImpl {
  private wire: Uint8Array | undefined;

  constructor(entries: Iterable<readonly [string, string]>) {
    super();
    let text = 'NATS/1.0';
    for (const [key, value] of entries) {
      this.headers.set(key, [value]);
      text += `\r\n${key}: ${value}`;
    }
    this.wire = Buffer.from(`${text}\r\n\r\n`, 'utf8');
  }

  override encode(): Uint8Array {
    return this.wire ?? super.encode();
  }

  override append(k: string, v: string, match?: Parameters<MsgHdrsImpl['append']>[2]): void {
    this.wire = undefined;
    super.append(k, v, match);
  }

  override delete(k: string, match?: Parameters<MsgHdrsImpl['delete']>[1]): void {
    this.wire = undefined;
    super.delete(k, match);
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
function plainValue(value: string): boolean {
  return !/[\r\n]/.test(value) && value.trim() === value;
}

/**
 * Headers as `headers()` followed by `set(name, value)` for each entry in order would make them
 * (exact-case names; a repeated name keeps its last value, placed last), prepared for the wire.
 * Undefined when a name or value is one MsgHdrsImpl would refuse or change: the caller then
 * builds them the ordinary way, with the same outcome (or error) as before.
 */
export function preparedHeaders(entries: ReadonlyArray<readonly [string, string]>): MsgHdrs | undefined {
  // No header at all encodes as nothing in nats.js, not as an empty header block.
  if (entries.length === 0) return undefined;
  const byName = new Map<string, string>();
  for (const [name, value] of entries) {
    if (!plainName(name) || !plainValue(value)) return undefined;
    byName.delete(name);
    byName.set(name, value);
  }
  return new PreparedHeaders(byName);
}
