import { BootClock, EventBatch, encodeRecords } from '../../src/events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileExporterFactory } from '../../src/exporters/file';
import { prometheusExporterFactory } from '../../src/exporters/prometheus';
import { MemoryExporter, memoryExporterFactory } from '../../src/exporters/memory';
import type { ComponentSettings, Factory, LogsConsumer } from '../../src/pipeline/component';
import { once } from '../../src/pipeline/component';
import { ConfigError, parseConfigText } from '../../src/pipeline/config';
import { createLogger } from '../../src/pipeline/logger';
import { Service } from '../../src/pipeline/service';
import { syntheticReceiverFactory } from '../../src/receivers/synthetic';
import { pass } from '../harness/time';

const clock = new BootClock();
const logger = createLogger('error');
const host = { hostname: 'test-host', nodeName: '' };

function batchOf(n: number, comm = 'proc'): EventBatch {
  const specs = Array.from({ length: n }, (_, i) => ({
    type: 'exec' as const,
    tsBootNs: BigInt(i),
    pid: 1000 + i,
    mntns: 4026531840,
    comm,
    filename: '/bin/x',
    args: ['x'],
  }));
  return EventBatch.parse(encodeRecords(specs), clock).batch;
}

/** Components that write what happens to them into one shared journal. */
function journaling(journal: string[]) {
  const pushes: Array<(b: EventBatch) => Promise<void>> = [];
  const lifecycle = (settings: ComponentSettings) => ({
    start: async () => void journal.push(`start ${settings.id}`),
    // Not wrapped in once(): the service's own guard is what keeps it to one call.
    shutdown: async () => void journal.push(`shutdown ${settings.id}`),
  });
  const factories: Factory[] = [
    {
      kind: 'receiver',
      type: 'src',
      createDefaultConfig: () => ({}),
      create: (_c, settings, next) => {
        pushes.push((b) => {
          settings.stage.receive(b.length);
          return next.consumeLogs(b);
        });
        return lifecycle(settings);
      },
    },
    {
      kind: 'processor',
      type: 'dropodd',
      createDefaultConfig: () => ({}),
      create: (_c, settings, next: LogsConsumer) => ({
        ...lifecycle(settings),
        consumeLogs: async (b: EventBatch) => {
          const kept = b.filter((i) => b.pid(i) % 2 === 0);
          settings.stage.drop(b.length - kept.length, 'filtered');
          await next.consumeLogs(kept);
        },
      }),
    },
    {
      kind: 'exporter',
      type: 'sink',
      createDefaultConfig: () => ({}),
      create: (_c, settings) => ({
        ...lifecycle(settings),
        consumeLogs: async (b: EventBatch) => settings.stage.send(b.length),
      }),
    },
  ];
  return { factories, pushes };
}

const YAML = `
receivers: { synthetic: {} }
processors: {}
exporters: { file: {} }
service:
  pipelines:
    logs: { receivers: [synthetic], exporters: [file] }
`;

/** The schema only knows real component types; tests rename them after validation. */
function configWith(receivers: string[], processors: string[], exporters: string[]) {
  const config = parseConfigText(YAML, 'test', {});
  config.receivers = Object.fromEntries(receivers.map((id) => [id, {}]));
  config.processors = Object.fromEntries(processors.map((id) => [id, {}]));
  config.exporters = Object.fromEntries(exporters.map((id) => [id, {}]));
  config.service.pipelines.logs = { receivers, processors, exporters };
  // Lifecycle tests need no metrics server (the telemetry tests below start their own, on a free port).
  config.service.telemetry = { metrics: { address: '' } };
  return config;
}

describe('Service lifecycle', () => {
  it('starts exporters → processors → receivers and shuts down in reverse', async () => {
    const journal: string[] = [];
    const { factories } = journaling(journal);
    const service = new Service(configWith(['src'], ['dropodd'], ['sink/a', 'sink/b']), { factories, logger, host, clock });
    await service.start();
    await service.shutdown();
    expect(journal).toEqual([
      'start exporters.sink/a',
      'start exporters.sink/b',
      'start processors.dropodd',
      'start receivers.src',
      'shutdown receivers.src',
      'shutdown processors.dropodd',
      'shutdown exporters.sink/a',
      'shutdown exporters.sink/b',
    ]);
  });

  it('shuts each component down once, even when asked twice or concurrently', async () => {
    const journal: string[] = [];
    const { factories } = journaling(journal);
    const service = new Service(configWith(['src'], [], ['sink']), { factories, logger, host, clock });
    await service.start();
    await Promise.all([service.shutdown(), service.shutdown()]);
    await service.shutdown();
    expect(journal.filter((j) => j.startsWith('shutdown'))).toEqual(['shutdown receivers.src', 'shutdown exporters.sink']);
  });

  it('once() runs a component shutdown a single time and hands every caller the same outcome', async () => {
    let runs = 0;
    const shutdown = once(async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('flush failed');
    });
    const outcomes = await Promise.allSettled([shutdown(), shutdown()]);
    await expect(shutdown()).rejects.toThrow('flush failed');
    expect(runs).toBe(1);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });

  it('shuts down safely without start', async () => {
    const journal: string[] = [];
    const { factories } = journaling(journal);
    const service = new Service(configWith(['src'], [], ['sink']), { factories, logger, host, clock });
    await service.shutdown();
    expect(journal).toEqual(['shutdown receivers.src', 'shutdown exporters.sink']);
  });

  it('shuts down what started when a later component fails to start', async () => {
    const journal: string[] = [];
    const { factories } = journaling(journal);
    const failing: Factory = {
      kind: 'receiver',
      type: 'broken',
      createDefaultConfig: () => ({}),
      create: () => ({
        start: async () => {
          throw new Error('no BPF permission');
        },
        shutdown: async () => void journal.push('shutdown broken'),
      }),
    };
    const service = new Service(configWith(['broken'], [], ['sink']), { factories: [...factories, failing], logger, host, clock });
    await expect(service.start()).rejects.toThrow('receivers.broken: failed to start: no BPF permission');
    expect(journal).toEqual(['start exporters.sink', 'shutdown broken', 'shutdown exporters.sink']);
  });

  it('names the component when its type is not built in', () => {
    expect(() => new Service(configWith(['src'], [], ['nosuch']), { factories: journaling([]).factories, logger, host, clock })).toThrow(
      ConfigError,
    );
    expect(() => new Service(configWith(['src'], [], ['nosuch']), { factories: journaling([]).factories, logger, host, clock })).toThrow(
      'exporters.nosuch: no exporter of type "nosuch" is built in',
    );
  });
});

describe('stage counters', () => {
  it('count what each stage received, dropped with a reason, and passed on', async () => {
    const { factories, pushes } = journaling([]);
    const service = new Service(configWith(['src'], ['dropodd'], ['sink/a', 'sink/b']), { factories, logger, host, clock });
    await service.start();
    await pushes[0](batchOf(10));
    await pushes[0](batchOf(5));
    await service.shutdown();
    const byComponent = Object.fromEntries(service.telemetry.snapshot().map((s) => [s.component, s]));
    expect(byComponent['receivers.src']).toEqual({ component: 'receivers.src', received: 15, sent: 15, dropped: {} });
    // pids 1000..1009 and 1000..1004: 5 + 3 even
    expect(byComponent['processors.dropodd']).toEqual({ component: 'processors.dropodd', received: 15, sent: 8, dropped: { filtered: 7 } });
    expect(byComponent['exporters.sink/a']).toEqual({ component: 'exporters.sink/a', received: 8, sent: 8, dropped: {} });
    expect(byComponent['exporters.sink/b'].received).toBe(8);
  });

  it('are exported through the prom-client registry', async () => {
    const { factories, pushes } = journaling([]);
    const service = new Service(configWith(['src'], ['dropodd'], ['sink']), { factories, logger, host, clock });
    await pushes[0](batchOf(4));
    const text = await service.telemetry.registry.metrics();
    expect(text).toContain('ebpf_container_otel_records_received_total{component="processors.dropodd"} 4');
    expect(text).toContain('ebpf_container_otel_records_dropped_total{component="processors.dropodd",reason="filtered"} 2');
    expect(text).toContain('ebpf_container_otel_records_sent_total{component="exporters.sink"} 2');
  });
});

describe('synthetic receiver → memory exporter', () => {
  afterEach(() => jest.useRealTimers());

  it('delivers the configured count of well-formed records and stops', async () => {
    jest.useFakeTimers();
    const config = configWith(['synthetic'], [], ['memory']);
    config.receivers.synthetic = { rate: 5000, batch_size: 50, count: 200 };
    const service = new Service(config, { factories: [syntheticReceiverFactory, memoryExporterFactory], logger, host, clock });
    await service.start();
    const sink = MemoryExporter.byId('exporters.memory')!;
    // Two of its 100 ms ticks: the first owes 500 records at 5000/s, of which the count allows 200; the second none.
    await pass(200);
    await service.shutdown();
    expect(sink.recordCount).toBe(200);
    expect(sink.lifecycle).toEqual(['start', 'shutdown']);
    const first = sink.batches[0];
    expect(first.type(0)).toBe('exec');
    expect(first.comm(0)).toBe('synthetic');
    expect(first.execArgs(0)).toEqual(['true', '0']);
  });
});

describe('service.telemetry.metrics.address', () => {
  async function get(port: number, path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  }

  it('serves /metrics (pipeline counters included), /healthz and /readyz with only a file exporter in the pipeline', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'eco-telemetry-')), 'out.jsonl');
    const config = parseConfigText(
      `
receivers: { synthetic: { rate: 5000, batch_size: 50, count: 100 } }
exporters: { file: { path: "${out}" } }
service:
  telemetry: { metrics: { address: "127.0.0.1:0" } }
  pipelines: { logs: { receivers: [synthetic], exporters: [file] } }
`,
      'test',
      {},
    );
    const service = new Service(config, { factories: [syntheticReceiverFactory, fileExporterFactory], logger, host, clock });
    const server = service.telemetryServer!;
    await service.start();
    try {
      const sent = async () =>
        (await get(server.port, '/metrics')).body.includes('ebpf_container_otel_records_sent_total{component="exporters.file"} 100');
      for (let waited = 0; !(await sent()) && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(await get(server.port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
      expect(await get(server.port, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
      const metrics = await get(server.port, '/metrics');
      expect(metrics.body).toContain('ebpf_container_otel_records_sent_total{component="exporters.file"} 100');
      expect(metrics.body).toContain('ebpf_container_otel_records_received_total{component="receivers.synthetic"} 100');
      expect((await get(server.port, '/nope')).status).toBe(404);
    } finally {
      await service.shutdown();
    }
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
  });

  it('defaults: its own endpoint without a Prometheus exporter; none beside one (the exporter serves every metric); "" turns it off', () => {
    const plain = configWith(['synthetic'], [], ['memory']);
    delete plain.service.telemetry;
    expect(
      new Service(plain, { factories: [syntheticReceiverFactory, memoryExporterFactory], logger, host, clock }).telemetryServer,
    ).toBeDefined();
    const withProm = parseConfigText(
      `
receivers: { synthetic: {} }
exporters: { prometheus: { endpoint: "127.0.0.1:9999" } }
service: { pipelines: { logs: { receivers: [synthetic], exporters: [prometheus] } } }
`,
      'test',
      {},
    );
    expect(
      new Service(withProm, { factories: [syntheticReceiverFactory, prometheusExporterFactory], logger, host, clock }).telemetryServer,
    ).toBeUndefined();
    withProm.service.telemetry = { metrics: { address: '0.0.0.0:9999' } };
    expect(() => new Service(withProm, { factories: [syntheticReceiverFactory, prometheusExporterFactory], logger, host, clock })).toThrow(
      /service\.telemetry\.metrics\.address: "0\.0\.0\.0:9999" is also exporters\.prometheus\.endpoint/,
    );
    withProm.service.telemetry = { metrics: { address: 'nine' } };
    expect(() => new Service(withProm, { factories: [syntheticReceiverFactory, prometheusExporterFactory], logger, host, clock })).toThrow(
      /service\.telemetry\.metrics\.address: "nine" is not host:port/,
    );
  });
});
