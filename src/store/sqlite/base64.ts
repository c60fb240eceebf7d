/**
 * Bytes <-> base64 text, for the Uint8Array fields that JSON cannot carry. Decoding yields a
 * plain Uint8Array (not a Buffer), so what comes back is exactly the type that went in.
 */
export function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Throws on text that is not canonical base64, so a damaged row is noticed, not misread. */
export function base64ToBytes(text: string): Uint8Array {
  const buffer = Buffer.from(text, 'base64');
  if (buffer.toString('base64') !== text) throw new Error('stored bytes are not valid base64');
  return new Uint8Array(buffer);
}
