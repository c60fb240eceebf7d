import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface HttpEndpointOptions {
  address: string;
  registry: Registry;
  /** Called before /metrics is rendered, to refresh gauges that are read, not pushed. */
  beforeScrape?: () => Promise<void>;
  ready: () => boolean;
}

/** /metrics (Prometheus), /healthz (the process answers), /readyz (store writable, engine running). */
export async function startHttpEndpoint(options: HttpEndpointOptions): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = options.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      void (async () => {
        try {
          await options.beforeScrape?.();
          const body = await options.registry.metrics();
          res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
        } catch {
          res.writeHead(500).end();
        }
      })();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  const idx = options.address.lastIndexOf(':');
  const host = options.address.slice(0, idx).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(options.address.slice(idx + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    server,
    port: actual,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
