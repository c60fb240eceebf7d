/** ISO 8601 text of whole seconds, by epoch second: events of one second share it. */
const secondsText = new Map<number, string>();
const MAX_CACHED = 4096;

/**
 * `new Date(ms).toISOString()` for an integer epoch-ms instant, with the part up to the
 * seconds cached: event encoding writes several instants per event, nearly all within the last
 * few seconds, and Date formatting was a tenth of the publisher's time.
 */
export function isoMillis(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  let prefix = secondsText.get(seconds);
  if (prefix === undefined) {
    // "....:ssZ" minus ".000Z"; any year form (also +YYYYYY) ends in ".sssZ"
    prefix = new Date(seconds * 1000).toISOString().slice(0, -5);
    if (secondsText.size >= MAX_CACHED) secondsText.clear();
    secondsText.set(seconds, prefix);
  }
  const millis = ms - seconds * 1000;
  return `${prefix}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

/** isoMillis without the fraction when it is zero, as google.protobuf.Timestamp JSON writes it. */
export function isoMillisTrimmed(ms: number): string {
  const text = isoMillis(ms);
  return text.endsWith('.000Z') ? `${text.slice(0, -5)}Z` : text;
}
