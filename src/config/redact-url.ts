/** A server URL as it may be logged: a password (or a bare token in the user part) replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'redacted';
    else if (parsed.username !== '') parsed.username = 'redacted';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//redacted@');
  }
}
