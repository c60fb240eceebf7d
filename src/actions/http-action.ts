import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { HttpActionSpec } from '../domain/task.js';
import { ActionFailedError, MAX_OUTPUT_BYTES, truncateOutput, type ActionContext, type ActionResult } from './action.js';

/**
 * Where HTTP actions may connect (the operator's allowlist). `checkHost` decides from the URL's
 * host alone; 'resolve' means the name is allowed only if the addresses it resolves to are.
 */
export interface HttpTargetPolicy {
  checkHost(hostname: string): 'allow' | 'deny' | 'resolve';
  allowsAddress(address: string): boolean;
}

/** How runHttp connects; no policy = any target. */
export interface HttpActionOptions {
  targets?: HttpTargetPolicy;
}

/** Sent unless the task sets its own, so receivers can tell cronplane's calls apart. */
const USER_AGENT = 'cronplane';

/**
 * http: one request with the run headers; 2xx (or `success_codes`) is success, the body is kept
 * truncated. Redirects are not followed. With a target policy, a name that must be resolved is
 * checked inside the connection's own DNS lookup, so the socket goes to exactly the address
 * that was allowed (no second, unchecked resolution between check and connect).
 */
export async function runHttp(spec: HttpActionSpec, context: ActionContext, options: HttpActionOptions = {}): Promise<ActionResult> {
  const method = spec.method || 'POST';
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch (err) {
    throw new ActionFailedError(`${method} ${spec.url} failed: not an absolute URL`, '', { cause: err });
  }
  let lookup: LookupFunction | undefined;
  if (options.targets !== undefined) {
    const decision = options.targets.checkHost(url.hostname);
    if (decision === 'deny') {
      throw new ActionFailedError(`${method} ${spec.url} refused: host "${url.hostname}" is not an allowed HTTP target (CRONPLANE_HTTP_ALLOWED_TARGETS)`);
    }
    if (decision === 'resolve') lookup = checkedLookup(options.targets);
  }
  const withBody = method !== 'GET' && method !== 'HEAD' && spec.body.length > 0;
  const headers: OutgoingHttpHeaders = { ...spec.headers, ...context.runHeaders };
  if (!Object.keys(spec.headers).some((h) => h.toLowerCase() === 'user-agent')) headers['user-agent'] = USER_AGENT;

  let response: IncomingMessage;
  try {
    response = await send(url, { method, headers, signal: context.signal, lookup }, withBody ? spec.body : undefined);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const detail = e.code === ERR_TARGET_NOT_ALLOWED ? e.message : (e.code ?? e.message);
    throw new ActionFailedError(`${method} ${spec.url} failed: ${detail}`, '', { cause: err });
  }
  const output = await readPrefix(response);
  const status = response.statusCode ?? 0;
  const ok = spec.successCodes.length > 0 ? spec.successCodes.includes(status) : status >= 200 && status < 300;
  if (!ok) throw new ActionFailedError(`HTTP ${status} ${response.statusMessage ?? ''}`.trim(), output);
  return { output };
}

const ERR_TARGET_NOT_ALLOWED = 'ERR_HTTP_TARGET_NOT_ALLOWED';

interface SendOptions {
  method: string;
  headers: OutgoingHttpHeaders;
  signal: AbortSignal;
  lookup: LookupFunction | undefined;
}

/** One request; resolves with the response head (the body is still to be read). */
function send(url: URL, options: SendOptions, body: Uint8Array | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // A checked lookup gets a connection of its own (agent: false): a pooled socket was checked
    // for whoever opened it, and the pool does not know about policies.
    const req = request(url, {
      method: options.method,
      headers: options.headers,
      signal: options.signal,
      ...(options.lookup === undefined ? {} : { lookup: options.lookup, agent: false }),
    }, resolve);
    req.once('error', reject);
    req.end(body);
  });
}

/** dns.lookup, keeping only the allowed addresses; none allowed fails the connection with the reason. */
function checkedLookup(policy: HttpTargetPolicy): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const allowed = addresses.filter((a) => policy.allowsAddress(a.address));
      const first = allowed[0];
      if (first === undefined) {
        const seen = addresses.map((a) => a.address).join(', ');
        const denied = Object.assign(
          new Error(`host "${hostname}" resolves to ${seen}, not an allowed HTTP target (CRONPLANE_HTTP_ALLOWED_TARGETS)`),
          { code: ERR_TARGET_NOT_ALLOWED },
        );
        return callback(denied, '', 0);
      }
      if (options.all === true) callback(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

/** Read at most MAX_OUTPUT_BYTES of the body, then drop the rest without buffering it. */
async function readPrefix(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // Leaving the loop early destroys the response (and its socket): the rest is never read.
    for await (const chunk of response as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_OUTPUT_BYTES) break;
    }
  } catch (err) {
    throw new ActionFailedError(`reading the response body failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, truncateOutput(Buffer.concat(chunks)), { cause: err });
  }
  return truncateOutput(Buffer.concat(chunks));
}
