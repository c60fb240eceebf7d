import { BlockList, isIP } from 'node:net';
import type { FieldViolation } from '../domain/errors.js';
import type { ActionSpec } from '../domain/task.js';

/** What the host name of a URL alone says: allowed, refused, or allowed only if its addresses are. */
export type HostDecision = 'allow' | 'deny' | 'resolve';

/** Where CRONPLANE_HTTP_ALLOWED_TARGETS is named in messages, so users know whom to ask. */
const SETTING = 'CRONPLANE_HTTP_ALLOWED_TARGETS';

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The operator's HTTP target allowlist (CRONPLANE_HTTP_ALLOWED_TARGETS): host names
 * (`api.example.com`), wildcards (`*.example.com`: any name below example.com, not example.com
 * itself) and addresses or CIDRs (`10.0.0.0/8`, `192.168.1.5`, `fd00::/8`). Each entry grants on
 * its own (a union):
 * - a URL whose host name matches a host entry is allowed, whatever the name resolves to (the
 *   operator trusts that name);
 * - a URL whose host is an IP literal is allowed when an address entry contains it;
 * - any other name is allowed only when address entries exist and the addresses it resolves to
 *   at run time lie inside them; the HTTP action connects to exactly the checked address, so a
 *   DNS answer that changes between check and connect (rebinding) cannot slip through.
 * Ports are not restricted.
 */
export class HttpAllowedTargets {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly addresses = new BlockList();
  private addressEntries = 0;

  private constructor(readonly entries: readonly string[]) {}

  /** Parses the comma-separated setting; throws an Error naming the first bad entry. Empty entries are ignored. */
  static parse(text: string): HttpAllowedTargets {
    const entries = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
    if (entries.length === 0) throw new Error('no entries; leave it unset to allow every target');
    const list = new HttpAllowedTargets(entries);
    for (const entry of entries) list.add(entry);
    return list;
  }

  /** Whether address entries exist (then names outside the host entries are resolved and checked). */
  get hasAddressEntries(): boolean {
    return this.addressEntries > 0;
  }

  /** The decision from the host name alone (a URL's `hostname`: IPv6 in brackets is fine). */
  checkHost(hostname: string): HostDecision {
    const host = normalizeHost(hostname);
    if (isIP(host) !== 0) return this.allowsAddress(host) ? 'allow' : 'deny';
    if (this.exact.has(host) || this.suffixes.some((s) => host.endsWith(s))) return 'allow';
    return this.hasAddressEntries ? 'resolve' : 'deny';
  }

  /** Whether an IP address lies inside an address entry (IPv4-mapped IPv6 counts as its IPv4). */
  allowsAddress(address: string): boolean {
    const host = normalizeHost(address);
    const family = isIP(host);
    if (family === 0) return false;
    return this.addresses.check(host, family === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * CreateTask / UpdateTask: an http action whose URL the allowlist refuses from its host alone
   * is a violation on `action.http.url`. Names that only address entries could allow pass here
   * and are checked after DNS resolution at every run. Unparsable URLs are left to validation.
   */
  violations(action: ActionSpec): FieldViolation[] {
    if (action.kind !== 'http') return [];
    let url: URL;
    try {
      url = new URL(action.url);
    } catch {
      return [];
    }
    if (this.checkHost(url.hostname) !== 'deny') return [];
    return [{ field: 'action.http.url', description: `host "${normalizeHost(url.hostname)}" is not an allowed HTTP target (${SETTING})` }];
  }

  private add(raw: string): void {
    const entry = raw.toLowerCase();
    const slash = entry.indexOf('/');
    const address = normalizeHost(slash === -1 ? entry : entry.slice(0, slash));
    const family = isIP(address);
    if (family !== 0) {
      const type = family === 6 ? 'ipv6' : 'ipv4';
      if (slash === -1) {
        this.addresses.addAddress(address, type);
      } else {
        const bitsText = entry.slice(slash + 1);
        const bits = Number(bitsText);
        const max = family === 6 ? 128 : 32;
        if (!/^\d{1,3}$/.test(bitsText) || bits > max) throw new Error(`"${raw}": prefix length must be 0-${max}`);
        this.addresses.addSubnet(address, bits, type);
      }
      this.addressEntries++;
      return;
    }
    if (slash !== -1) throw new Error(`"${raw}" is neither a host name nor an IP address / CIDR`);
    if (entry === '*') throw new Error('"*" would allow everything; leave the setting unset for that');
    if (/:\d+$/.test(entry)) throw new Error(`"${raw}": entries take no port (ports are not restricted)`);
    const wildcard = entry.startsWith('*.');
    const name = normalizeHost(wildcard ? entry.slice(2) : entry);
    if (!isHostName(name)) throw new Error(`"${raw}" is not a host name, "*.domain", an IP address or a CIDR`);
    if (wildcard) this.suffixes.push(`.${name}`);
    else this.exact.add(name);
  }
}

/** Lower case, no IPv6 brackets, no trailing root dot: the form entries and URLs are compared in. */
function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

function isHostName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((label) => HOST_LABEL.test(label));
}
