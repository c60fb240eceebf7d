import { get } from 'node:http';

/** One sample of the service's /metrics (an unlabelled series), undefined when it is not there or the scrape fails. */
export function metric(port: number, name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith(`${name} `));
        resolve(line === undefined ? undefined : Number(line.slice(name.length + 1)));
      });
    });
    req.on('error', () => resolve(undefined));
    req.setTimeout(10_000, () => req.destroy());
  });
}
