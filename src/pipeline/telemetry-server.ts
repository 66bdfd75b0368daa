import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger';

export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})$/.exec(endpoint);
  if (!m) throw new Error(`endpoint: ${JSON.stringify(endpoint)} is not host:port (e.g. 0.0.0.0:9464)`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`endpoint: port ${port} is above 65535`);
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1] || '0.0.0.0';
  return { host, port };
}

/**
 * The agent's registry on /metrics, with /healthz (the process answers) and
 * /readyz (set by the owner: started, not shutting down). Served by the
 * service (`service.telemetry.metrics.address`) and by the Prometheus exporter.
 */
export class TelemetryServer {
  private server: Server | undefined;
  ready = false;

  constructor(
    /** `host:port`; port 0 picks a free one. */
    private readonly endpoint: string,
    /** The config key that sets `endpoint`, for error messages. */
    private readonly key: string,
    /** What the start-up line says is served, e.g. `Prometheus metrics`. */
    private readonly what: string,
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  /** The bound port (differs from the configured one when that was 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const { host, port } = parseEndpoint(this.endpoint);
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'EADDRINUSE'
            ? `address in use: another process serves that port; set ${this.key} to a free host:port`
            : err.code === 'EACCES'
              ? 'permission denied: use a port above 1023 or run as root'
              : err.message;
        reject(new Error(`cannot listen on ${this.endpoint}: ${hint}`));
      });
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => this.logger.error(`metrics server on ${this.endpoint}: ${err.message}`));
    this.server = server;
    this.logger.info(`serving ${this.what} on http://${host}:${this.port}/metrics (and /healthz, /readyz)`);
  }

  async stop(): Promise<void> {
    this.ready = false;
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url) {
      case '/metrics':
        try {
          const body = await this.registry.metrics();
          res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${(err as Error).message}\n`);
        }
        return;
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz':
        res.writeHead(this.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(this.ready ? 'ready\n' : 'not ready\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  }
}
