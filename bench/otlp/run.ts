/**
 * Same records, same local OTLP/gRPC sink, two exporters:
 *   stock — LoggerProvider (one per container resource) + BatchLogRecordProcessor
 *           + one shared OTLPLogExporter, configured not to drop;
 *   ours  — the otlp exporter encoding protobuf straight from EventBatch.
 * Each side runs in its own child process (clean CPU and RSS); the sink counts
 * records off the wire: SINK=http2 (default) bench/e2e/sink.ts in a process of
 * its own, SINK=grpc-js test/harness/otlp-sink.ts in the parent (it costs
 * ~1.2 µs per record, more than our exporter, so with it both sides share two
 * cores with a sink that bounds the faster one).
 *
 *   node_modules/.bin/tsc -p tsconfig.json && node_modules/.bin/node dist/bench/otlp/run.js [records] [containers]
 *   (ROUNDS=n, default 3: each round runs both sides; medians and best rounds are compared)
 */
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { Registry } from 'prom-client';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BootClock, type ContainerInfo, EventBatch, type EventTypeName, encodeRecords } from '../../src/events';
import {
  ATTRIBUTE_KEYS,
  EVENT_NAMES,
  type LogRecordWriter,
  type SeverityLevel,
  resourceAttributes,
  writeLogRecord,
} from '../../src/exporters/log-mapping';
import { otlpLogsExporterFactory } from '../../src/exporters/otlp-logs';
import { mergeDefaults } from '../../src/pipeline/config';
import { createLogger } from '../../src/pipeline/logger';
import { PipelineTelemetry } from '../../src/pipeline/telemetry';
import { startSink } from '../e2e/sinks';
import { mixedRecord } from './mixed-records';

const HOST = { hostname: 'bench-node', nodeName: 'bench-node' };
const BATCH = 1024;
/** Records handed over but not yet acknowledged, at most: both sides are paced the same way. */
const MAX_OUTSTANDING = 64 * 1024;

interface Result {
  side: string;
  records: number;
  wallMs: number;
  cpuMs: number;
  maxRssMiB: number;
}

function containers(n: number): ContainerInfo[] {
  return Array.from({ length: n }, (_v, k) => ({
    id: `${k.toString(16).padStart(8, '0')}${'c'.repeat(56)}`,
    name: `app-${k}`,
    runtime: 'cri',
    state: 'running',
    pid: 1000 + k,
    mntns: 4026532000 + k,
    cgroupPath: `/kubepods/pod${k}`,
    image: { name: `registry.local/team/app-${k % 7}:1.${k}`, id: '', digest: `sha256:${'ab'.repeat(32)}` },
    labels: {},
    k8s: {
      namespace: `ns-${k % 5}`,
      podName: `app-${k}-7d9f`,
      podUid: `6f1c3c1e-0000-4000-8000-${k.toString().padStart(12, '0')}`,
      containerName: `app-${k}`,
      podLabels: {},
      podAnnotations: {},
    },
    sandbox: false,
    startedAt: '',
  }));
}

/** Distinct batches generated before timing starts; the run cycles through them. */
const POOL = 32;

/** Batches of ~280-byte kernel records, mixed event types, spread over the containers. */
function makePool(infos: ContainerInfo[]): EventBatch[] {
  const pool: EventBatch[] = [];
  const clock = new BootClock();
  for (let start = 0; start < POOL * BATCH; start += BATCH) {
    const specs = Array.from({ length: BATCH }, (_, k) => mixedRecord(start + k));
    const { batch } = EventBatch.parse(encodeRecords(specs), clock);
    batch.containers = specs.map((_s, k) => infos[(start + k) % infos.length]);
    pool.push(batch);
  }
  return pool;
}

/** `total` records (a multiple of the batch size) from the pool. */
function* batches(total: number, pool: EventBatch[]): Generator<EventBatch> {
  for (let n = 0; n * BATCH < total; n++) yield pool[n % pool.length];
}

/** The stock SDK needs one object per record: build it with the same mapping. */
class ObjectWriter implements LogRecordWriter {
  record:
    | {
        timestamp: [number, number];
        observedTimestamp: number;
        severityNumber: number;
        severityText: string;
        eventName: string;
        body: string;
        attributes: Record<string, string | number | boolean | string[]>;
      }
    | undefined;
  private prefix = '';
  begin(timeUnixNs: bigint, severity: SeverityLevel, type: EventTypeName): void {
    this.prefix = `${type} `;
    this.record = {
      timestamp: [Number(timeUnixNs / 1_000_000_000n), Number(timeUnixNs % 1_000_000_000n)],
      observedTimestamp: Date.now(),
      severityNumber: severity.number,
      severityText: severity.text,
      eventName: EVENT_NAMES[type],
      body: '',
      attributes: {},
    };
  }
  bodyUtf8(buf: Buffer, start: number, end: number): void {
    this.record!.body = this.prefix + buf.toString('utf8', start, end);
  }
  bodyText(detail: string): void {
    this.record!.body = this.prefix + detail;
  }
  str(key: number, value: string): void {
    this.record!.attributes[ATTRIBUTE_KEYS[key]] = value;
  }
  utf8(key: number, buf: Buffer, start: number, end: number): void {
    this.str(key, buf.toString('utf8', start, end));
  }
  utf8List(key: number, buf: Buffer, start: number, end: number): void {
    this.record!.attributes[ATTRIBUTE_KEYS[key]] = buf.toString('utf8', start, end).split('\0');
  }
  int(key: number, value: number): void {
    this.record!.attributes[ATTRIBUTE_KEYS[key]] = value;
  }
  bool(key: number, value: boolean): void {
    this.record!.attributes[ATTRIBUTE_KEYS[key]] = value;
  }
  end(): void {}
}

async function runStock(endpoint: string, total: number, infos: ContainerInfo[], pool: EventBatch[]): Promise<void> {
  const exporter = new OTLPLogExporter({ url: `http://${endpoint}`, concurrencyLimit: infos.length * 2 + 10, timeoutMillis: 60_000 });
  let acked = 0;
  // Counts acknowledged records for pacing; the exporter itself is untouched.
  const counting: LogRecordExporter = {
    export: (records: ReadableLogRecord[], cb) =>
      exporter.export(records, (result) => {
        if (result.code === 0) acked += records.length;
        else throw new Error(`stock export failed: ${result.error?.message}`);
        cb(result);
      }),
    shutdown: () => Promise.resolve(),
    forceFlush: () => exporter.forceFlush(),
  };
  const perContainer = Math.ceil(total / infos.length);
  const providers = new Map<ContainerInfo, LoggerProvider>();
  const loggers = new Map<ContainerInfo, ReturnType<LoggerProvider['getLogger']>>();
  for (const info of infos) {
    const attrs = Object.fromEntries(resourceAttributes(info, HOST, {}).map((a) => [a.key, a.value]));
    const provider = new LoggerProvider({
      resource: resourceFromAttributes(attrs),
      processors: [
        new BatchLogRecordProcessor({
          exporter: counting,
          maxQueueSize: perContainer,
          maxExportBatchSize: 2048,
          scheduledDelayMillis: 100,
          exportTimeoutMillis: 60_000,
        }),
      ],
    });
    providers.set(info, provider);
    loggers.set(info, provider.getLogger('ebpf-container-otel'));
  }
  const w = new ObjectWriter();
  let fed = 0;
  for (const batch of batches(total, pool)) {
    while (fed - acked > MAX_OUTSTANDING) await new Promise((r) => setTimeout(r, 1));
    for (let i = 0; i < batch.length; i++) {
      writeLogRecord(batch, i, w);
      loggers.get(batch.containers![i]!)!.emit(w.record!);
    }
    fed += batch.length;
    await new Promise((r) => setImmediate(r));
  }
  // forceFlush each provider; a provider's shutdown() would shut the shared exporter down.
  await Promise.all([...providers.values()].map((p) => p.forceFlush()));
  await exporter.shutdown();
  if (acked !== total) throw new Error(`stock: ${acked} of ${total} records acknowledged`);
}

async function runOurs(endpoint: string, total: number, _infos: ContainerInfo[], pool: EventBatch[]): Promise<void> {
  const telemetry = new PipelineTelemetry(new Registry());
  const stage = telemetry.stage('exporters.otlp');
  const config = mergeDefaults(otlpLogsExporterFactory.createDefaultConfig(), {
    endpoint: `http://${endpoint}`,
    sending_queue: { queue_size: MAX_OUTSTANDING + BATCH, num_consumers: 4 },
    batch: { max_size: 8192, delay: '50ms' },
    timeout: '60s',
    shutdown_timeout: '60s',
  });
  const exporter = otlpLogsExporterFactory.create(config, {
    id: 'exporters.otlp',
    logger: createLogger('warn', 'bench'),
    metrics: telemetry.registry,
    stage,
    host: HOST,
    clock: new BootClock(),
  });
  await exporter.start();
  let fed = 0;
  for (const batch of batches(total, pool)) {
    while (fed - stage.sent > MAX_OUTSTANDING) await new Promise((r) => setTimeout(r, 1));
    await exporter.consumeLogs(batch);
    fed += batch.length;
    await new Promise((r) => setImmediate(r));
  }
  await exporter.shutdown();
  if (stage.sent !== total || stage.droppedTotal() !== 0)
    throw new Error(`ours: sent ${stage.sent}, dropped ${stage.droppedTotal()} of ${total}`);
}

async function child(side: string, endpoint: string, total: number, nContainers: number): Promise<void> {
  const infos = containers(nContainers);
  const pool = makePool(infos);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await (side === 'stock' ? runStock : runOurs)(endpoint, total, infos, pool);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const result: Result = {
    side,
    records: total,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(side: string, endpoint: string, total: number, nContainers: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [__filename, side, endpoint, String(total), String(nContainers)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Result) : reject(new Error(`${side} exited with ${code}`)),
    );
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const total = Math.ceil(Number(process.argv[2] ?? 500_000) / BATCH) * BATCH;
  const nContainers = Number(process.argv[3] ?? 50);
  const rounds = Number(process.env.ROUNDS ?? 3);
  const sink = await startSink();
  const results: Result[] = [];
  console.log(
    `node ${process.version}, ${total} records, ${nContainers} container resources, local OTLP/gRPC sink (${process.env.SINK ?? 'http2'}, no compression), ${rounds} rounds, ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log('round side   records/s   wall s   CPU s   CPU µs/record   max RSS MiB');
  try {
    for (let round = 1; round <= rounds; round++) {
      // Alternate which side goes first: load from other work on the machine drifts.
      for (const side of round % 2 ? ['stock', 'ours'] : ['ours', 'stock']) {
        await sink.reset();
        const r = await runChild(side, sink.address, total, nContainers);
        const counted = await sink.count();
        if (counted !== total) throw new Error(`${side}: sink counted ${counted} of ${total} records`);
        results.push(r);
        const rate = r.records / (r.wallMs / 1000);
        console.log(
          `${String(round).padStart(5)} ${r.side.padEnd(6)} ${Math.round(rate).toString().padStart(9)}   ${(r.wallMs / 1000).toFixed(2).padStart(6)}  ${(r.cpuMs / 1000).toFixed(2).padStart(6)}   ${((r.cpuMs * 1000) / r.records).toFixed(2).padStart(13)}   ${r.maxRssMiB.toFixed(0).padStart(11)}`,
        );
      }
    }
  } finally {
    sink.stop();
  }
  const of = (side: string, f: (r: Result) => number) => results.filter((r) => r.side === side).map(f);
  const rate = (r: Result) => r.records / (r.wallMs / 1000);
  const cpu = (r: Result) => r.cpuMs / r.records;
  const rss = (r: Result) => r.maxRssMiB;
  const line = (label: string, pick: (xs: number[]) => number, higherIsBetter: boolean, f: (r: Result) => number) => {
    const s = pick(of('stock', f));
    const o = pick(of('ours', f));
    return `${label} ${(higherIsBetter ? o / s : s / o).toFixed(2)}x`;
  };
  console.log(
    `ratio ours/stock (median of rounds): ${line('records/s', median, true, rate)}, ${line('less CPU per record', median, false, cpu)}, ${line('less RSS', median, false, rss)}`,
  );
  console.log(
    `ratio ours/stock (best round of each): ${line('records/s', (xs) => Math.max(...xs), true, rate)}, ${line('less CPU per record', (xs) => Math.min(...xs), false, cpu)}`,
  );
}

if (process.argv.length >= 6) {
  void child(process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
