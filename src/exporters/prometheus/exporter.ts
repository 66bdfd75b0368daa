import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EventBatch } from '../../events';
import type { ComponentSettings, Exporter } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { type PrometheusExporterConfig, parseEndpoint } from './config';
import { ContainerEventCounters } from './container-events';

/**
 * Serves the agent's one prom-client registry (every component's metrics)
 * on /metrics, with /healthz and /readyz, and counts events per container.
 */
export class PrometheusExporter implements Exporter {
  private server: Server | undefined;
  private ready = false;
  private readonly counters: ContainerEventCounters;

  constructor(private readonly config: PrometheusExporterConfig, private readonly settings: ComponentSettings) {
    this.counters = new ContainerEventCounters(settings.metrics, { maxSeries: config.max_container_series, podLabel: config.pod_label });
  }

  /** The bound port (differs from the configured one when that was 0). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const { host, port } = parseEndpoint(this.config.endpoint);
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const hint = err.code === 'EADDRINUSE' ? 'address in use: another process serves that port; set exporters.prometheus.endpoint to a free host:port' : err.code === 'EACCES' ? 'permission denied: use a port above 1023 or run as root' : err.message;
        reject(new Error(`cannot listen on ${this.config.endpoint}: ${hint}`));
      });
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => this.settings.logger.error(`metrics server on ${this.config.endpoint}: ${err.message}`));
    this.server = server;
    this.ready = true;
    this.settings.logger.info(`serving Prometheus metrics on http://${host}:${this.port}/metrics`);
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    this.counters.count(batch);
    this.settings.stage.send(batch.length);
  }

  readonly shutdown = once(async () => {
    this.ready = false;
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url) {
      case '/metrics':
        try {
          const body = await this.settings.metrics.metrics();
          res.writeHead(200, { 'content-type': this.settings.metrics.contentType }).end(body);
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${(err as Error).message}\n`);
        }
        return;
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz':
        res.writeHead(this.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(this.ready ? 'ready\n' : 'shutting down\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
    }
  }
}
