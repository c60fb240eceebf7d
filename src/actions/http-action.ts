import type { HttpActionSpec } from '../domain/task.js';
import { ActionFailedError, MAX_OUTPUT_BYTES, truncateOutput, type ActionContext, type ActionResult } from './action.js';

/** http: one request with the run headers; 2xx (or `success_codes`) is success, the body is kept truncated. */
export async function runHttp(spec: HttpActionSpec, context: ActionContext): Promise<ActionResult> {
  const method = spec.method || 'POST';
  const withBody = method !== 'GET' && method !== 'HEAD' && spec.body.length > 0;
  let response: Response;
  try {
    response = await fetch(spec.url, {
      method,
      headers: { ...spec.headers, ...context.runHeaders },
      body: withBody ? spec.body : undefined,
      signal: context.signal,
      redirect: 'manual',
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ActionFailedError(`${method} ${spec.url} failed: ${detail}`, '', { cause: err });
  }
  const output = await readPrefix(response);
  const ok = spec.successCodes.length > 0
    ? spec.successCodes.includes(response.status)
    : response.status >= 200 && response.status < 300;
  if (!ok) throw new ActionFailedError(`HTTP ${response.status} ${response.statusText}`.trim(), output);
  return { output };
}

/** Read at most MAX_OUTPUT_BYTES of the body, then drop the rest without buffering it. */
async function readPrefix(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_OUTPUT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return truncateOutput(Buffer.concat(chunks));
}
