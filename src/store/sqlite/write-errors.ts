import { EtagMismatchError, TaskAlreadyExistsError, TaskNotFoundError } from '../../domain/errors.js';

/** A write's error as it crosses from the writer thread: the domain errors keep their class. */
export type EncodedWriteError =
  | { kind: 'TaskAlreadyExists' | 'TaskNotFound' | 'EtagMismatch'; taskName: string }
  | { kind: 'other'; name: string; message: string; code: string | undefined };

export function encodeWriteError(error: unknown): EncodedWriteError {
  if (error instanceof TaskAlreadyExistsError) return { kind: 'TaskAlreadyExists', taskName: error.taskName };
  if (error instanceof TaskNotFoundError) return { kind: 'TaskNotFound', taskName: error.taskName };
  if (error instanceof EtagMismatchError) return { kind: 'EtagMismatch', taskName: error.taskName };
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  return { kind: 'other', name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined };
}

export function decodeWriteError(encoded: EncodedWriteError): Error {
  switch (encoded.kind) {
    case 'TaskAlreadyExists':
      return new TaskAlreadyExistsError(encoded.taskName);
    case 'TaskNotFound':
      return new TaskNotFoundError(encoded.taskName);
    case 'EtagMismatch':
      return new EtagMismatchError(encoded.taskName);
    case 'other': {
      const error = new Error(encoded.message) as Error & { code?: string };
      error.name = encoded.name;
      if (encoded.code !== undefined) error.code = encoded.code;
      return error;
    }
  }
}
