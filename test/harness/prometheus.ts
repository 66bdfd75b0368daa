import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { destroyWorkDir, makeWorkDir, spawnUntilReady, stopDaemon, waitFor, type Daemon } from './procs';

/** A TCP port nothing listens on right now (for programs that cannot report the port they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `promtool check metrics` on an exposition text: a clean one gives status 0 and no output at all. */
export function promtoolCheckMetrics(text: string): { status: number | null; out: string } {
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: check.status, out: check.stdout + check.stderr };
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * A real Prometheus server (own config and TSDB in a work dir) scraping `targets` every second as
 * job `agent`; tests read what it stored through its HTTP query API, as a dashboard would.
 */
export class PrometheusServer {
  private constructor(
    private readonly dir: string,
    private readonly daemon: Daemon,
    readonly port: number,
  ) {}

  static async start(targets: string[]): Promise<PrometheusServer> {
    const dir = makeWorkDir('prom');
    try {
      const config = path.join(dir, 'prometheus.yml');
      writeFileSync(
        config,
        `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agent\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`,
      );
      // Prometheus cannot listen on port 0 and report it: take a free one and fail clearly if it was lost.
      const port = await freePort();
      const daemon = await spawnUntilReady(
        `prometheus ready on 127.0.0.1:${port}`,
        'prometheus',
        [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
        { logFile: path.join(dir, 'prometheus.log') },
        async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok,
        30_000,
        200,
      );
      return new PrometheusServer(dir, daemon, port);
    } catch (err) {
      destroyWorkDir(dir);
      throw err;
    }
  }

  /** An instant query's samples ([] when the series does not exist (yet)). */
  async query(promql: string): Promise<PromSample[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
    if (body.status !== 'success') throw new Error(`prometheus query ${promql}: ${body.error ?? res.status}`);
    return body.data!.result;
  }

  /** Waits until `promql` returns samples (scrapes come every second), then returns them. */
  queryUntilPresent(promql: string, limitMs = 30_000): Promise<PromSample[]> {
    return waitFor(
      `prometheus to have ${promql}`,
      async () => {
        const samples = await this.query(promql);
        return samples.length > 0 ? samples : undefined;
      },
      limitMs,
      250,
    );
  }

  async stop(): Promise<void> {
    await stopDaemon(this.daemon, 'SIGTERM');
    destroyWorkDir(this.dir);
  }
}
