import { InvalidArgumentError } from '../../domain/errors.js';

/**
 * The keyset position of an execution in ListExecutions order (scheduled_time DESC, id DESC):
 * `${scheduledTime}:${id}`. The time is an integer, so the first ':' always ends it and ids
 * may contain ':' themselves. Opaque to callers; the gRPC layer wraps it in its page token.
 */
export interface ExecutionPageKey {
  scheduledTime: number;
  id: string;
}

/** The key of a page's last row: where the next page starts. */
export function encodeExecutionPageKey(key: ExecutionPageKey): string {
  return `${key.scheduledTime}:${key.id}`;
}

/** Throws InvalidArgumentError (field `page_token`) for a key this store did not make. */
export function decodeExecutionPageKey(text: string): ExecutionPageKey {
  const colon = text.indexOf(':');
  const time = colon > 0 ? text.slice(0, colon) : '';
  const scheduledTime = Number(time);
  if (!/^-?\d+$/.test(time) || !Number.isSafeInteger(scheduledTime) || colon === text.length - 1) {
    throw new InvalidArgumentError([{ field: 'page_token', description: 'is not a page token of this listing' }]);
  }
  return { scheduledTime, id: text.slice(colon + 1) };
}
