import { status } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { OtlpJsonEncoder } from '../../src/exporters/file';
import { PodMetadataPolicy, createDefaultPodMetadataConfig } from '../../src/exporters/log-mapping';
import { LogsRequestEncoder, otlpLogsExporterFactory, type OtlpExporterConfig, classifyError } from '../../src/exporters/otlp-logs';
import type { Exporter } from '../../src/pipeline/component';
import { mergeDefaults } from '../../src/pipeline/config';
import { OtlpSink, decodeLogsRequest } from '../harness/otlp-sink';
import {
  DOCKER_CONTAINER,
  HOST,
  POD_CONTAINER,
  attrs,
  byContainer,
  execBatch,
  expectSampleRequest,
  type JsonRequest,
  sampleBatch,
  testSettings,
  type TestSettings,
} from './fixtures';

const UNLIMITED = { maxRecords: Infinity, maxBytes: Infinity };
const unexpectedSeal = () => {
  throw new Error('no request should fill up here');
};

const FAST_RETRY = { enabled: true, initial_interval: '50ms', max_interval: '200ms', max_elapsed_time: '0s' };

function createExporter(
  user: Record<string, unknown>,
  id = 'exporters.otlp',
): { exporter: Exporter; settings: TestSettings; config: OtlpExporterConfig } {
  const config = mergeDefaults(otlpLogsExporterFactory.createDefaultConfig(), user);
  expect(otlpLogsExporterFactory.validate!(config)).toEqual([]);
  const settings = testSettings(id);
  return { exporter: otlpLogsExporterFactory.create(config, settings), settings, config };
}

async function until(cond: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sequence numbers (argv[1] of execBatch records) of every record the sink accepted. */
function receivedSeqs(sink: OtlpSink): number[] {
  const seqs: number[] = [];
  for (const req of sink.requests) {
    for (const rl of req.resourceLogs) {
      for (const sl of rl.scopeLogs) {
        for (const rec of sl.logRecords) {
          const args = rec.attributes.find((a) => a.key === 'process.command_args')!.value.arrayValue!.values!;
          seqs.push(Number(args[1].stringValue));
        }
      }
    }
  }
  return seqs;
}

describe('OTLP protobuf encoder', () => {
  test('bytes decode with the official OTLP definitions and carry the documented mapping', () => {
    const batch = sampleBatch();
    const encoder = new LogsRequestEncoder(HOST, {}, UNLIMITED, new PodMetadataPolicy(createDefaultPodMetadataConfig()));
    encoder.add(batch, 0, batch.length, unexpectedSeal);
    const { payload, records } = encoder.seal();
    expect(records).toBe(5);
    expectSampleRequest(decodeLogsRequest(payload), batch);
  });

  test('protobuf and OTLP-JSON (file exporter) output are the same message', () => {
    const batch = sampleBatch();
    const all = { ...createDefaultPodMetadataConfig(), labels: ['*'], annotations: ['*'] };
    const encoder = new LogsRequestEncoder(HOST, { 'service.name': 'x' }, UNLIMITED, new PodMetadataPolicy(all));
    encoder.add(batch, 0, batch.length, unexpectedSeal);
    const fromProto = decodeLogsRequest(encoder.seal().payload);
    const fromJson = JSON.parse(
      new OtlpJsonEncoder(HOST, { 'service.name': 'x' }, new PodMetadataPolicy(all)).encode(batch),
    ) as JsonRequest;
    expect(attrs(fromJson.resourceLogs[0].resource.attributes)).toMatchObject({
      'k8s.container.restart_count': '1',
      'k8s.pod.label.team': 'checkout',
      'k8s.pod.annotation.example.com/owner': 'team-a',
    });
    expect(fromProto).toEqual(fromJson);
  });

  test('invalid UTF-8 from the kernel is replaced, never sent as a broken protobuf string', () => {
    const batch = execBatch(1, [null]);
    // Corrupt one byte of the filename (/usr/bin/true → /usr/bin/\xfffrue).
    const at = batch.execFilenameStart(0) + 9;
    batch.buffer[at] = 0xff;
    const encoder = new LogsRequestEncoder(HOST, {}, UNLIMITED);
    encoder.add(batch, 0, 1, unexpectedSeal);
    const rec = decodeLogsRequest(encoder.seal().payload).resourceLogs[0].scopeLogs[0].logRecords[0];
    expect(rec.body.stringValue).toBe('exec /usr/bin/\ufffdrue');
  });
});

describe('OTLP logs exporter → gRPC sink', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function startSink(options?: ConstructorParameters<typeof OtlpSink>[0]): Promise<OtlpSink> {
    const sink = await new OtlpSink(options).start();
    cleanups.push(() => sink.stop());
    return sink;
  }
  async function started(user: Record<string, unknown>): Promise<{ exporter: Exporter; settings: TestSettings }> {
    const made = createExporter(user);
    cleanups.push(() => made.exporter.shutdown());
    await made.exporter.start();
    return made;
  }

  test('end to end: records grouped by container resource, field by field (CRI pod k8s.*)', async () => {
    const sink = await startSink();
    const { exporter, settings } = await started({ endpoint: `http://${sink.address}` });
    const batch = sampleBatch();
    await exporter.consumeLogs(batch);
    await exporter.shutdown();
    expect(sink.requests).toHaveLength(1);
    expectSampleRequest(sink.requests[0], batch);
    expect(settings.stage.sent).toBe(5);
    expect(settings.stage.droppedTotal()).toBe(0);
  });

  test('requests are cut by count and by bytes; each stays under max_bytes', async () => {
    const sink = await startSink({ decode: true });
    const { exporter, settings } = await started({
      endpoint: `http://${sink.address}`,
      batch: { max_size: 1000, max_bytes: '64KiB', delay: '20ms' },
    });
    await exporter.consumeLogs(execBatch(2500, [POD_CONTAINER, DOCKER_CONTAINER, null], 0, 600));
    await exporter.shutdown();
    expect(sink.records).toBe(2500);
    expect(Math.max(...sink.rawSizes)).toBeLessThanOrEqual(64 * 1024);
    expect(sink.requests.length).toBeGreaterThan(2500 / 1000);
    expect(new Set(receivedSeqs(sink)).size).toBe(2500);
    expect(settings.stage.sent).toBe(2500);
  });

  test('retryable codes are retried until accepted; RESOURCE_EXHAUSTED only with RetryInfo', async () => {
    expect(classifyError({ code: status.UNAVAILABLE }).retryable).toBe(true);
    expect(classifyError({ code: status.INVALID_ARGUMENT }).retryable).toBe(false);
    expect(classifyError({ code: status.RESOURCE_EXHAUSTED, metadata: { get: () => [] } }).retryable).toBe(false);

    const sink = await startSink();
    const { exporter, settings } = await started({
      endpoint: `http://${sink.address}`,
      retry_on_failure: FAST_RETRY,
      batch: { delay: '10ms' },
    });
    sink.failWith(status.UNAVAILABLE, 2);
    await exporter.consumeLogs(execBatch(10, [POD_CONTAINER], 0));
    await until(() => sink.records === 10, 'records after UNAVAILABLE');
    sink.failWith(status.RESOURCE_EXHAUSTED, 1, 100);
    await exporter.consumeLogs(execBatch(10, [POD_CONTAINER], 10));
    await until(() => sink.records === 20, 'records after RESOURCE_EXHAUSTED with RetryInfo');
    // The sink counts a request before its answer reaches the exporter: wait for the answer.
    await until(() => settings.stage.sent === 20, 'the exporter to see the last request accepted');
    expect(sink.calls).toBe(2 + 1 + 1 + 1);
    expect(receivedSeqs(sink).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    const retries = await settings.metrics.getSingleMetricAsString('ebpf_container_otel_exporter_send_retries_total');
    expect(retries).toContain('code="UNAVAILABLE"} 2');
    expect(retries).toContain('code="RESOURCE_EXHAUSTED"} 1');
  });

  test('non-retryable codes drop the request, counted as export_failed, with a clear error', async () => {
    const sink = await startSink();
    const { exporter, settings } = await started({
      endpoint: `http://${sink.address}`,
      retry_on_failure: FAST_RETRY,
      batch: { delay: '10ms' },
    });
    sink.failWith(status.INVALID_ARGUMENT, 1);
    await exporter.consumeLogs(execBatch(7, [null]));
    await until(() => settings.stage.droppedTotal() === 7, 'drop');
    expect(settings.stage.dropped.get('export_failed')).toBe(7);
    expect(settings.logLines.join('')).toMatch(
      /export of 7 records to 127\.0\.0\.1:\d+ failed: 3 INVALID_ARGUMENT: .*INVALID_ARGUMENT is not retryable, records dropped/,
    );
  });

  test('gzip compression and configured headers reach the collector', async () => {
    const sink = await startSink();
    const { exporter, settings } = await started({
      endpoint: `http://${sink.address}`,
      compression: 'gzip',
      headers: { authorization: 'Bearer t0k' },
    });
    await exporter.consumeLogs(execBatch(100, [POD_CONTAINER]));
    await exporter.shutdown();
    expect(sink.records).toBe(100);
    expect(sink.lastMetadata?.get('authorization')).toEqual(['Bearer t0k']);
    expect(settings.stage.sent).toBe(100);
  });

  test('partial success: rejected records are counted as dropped, the rest as sent', async () => {
    const sink = await startSink({ partialReject: 3 });
    const { exporter, settings } = await started({ endpoint: `http://${sink.address}` });
    await exporter.consumeLogs(execBatch(10, [null]));
    await exporter.shutdown();
    expect(settings.stage.sent).toBe(7);
    expect(settings.stage.dropped.get('export_failed')).toBe(3);
  });

  test('shutdown gives up after shutdown_timeout when the collector stalls, and counts what it dropped', async () => {
    const sink = await startSink();
    sink.stall();
    const { exporter, settings } = await started({ endpoint: `http://${sink.address}`, shutdown_timeout: '300ms', timeout: '30s' });
    await exporter.consumeLogs(execBatch(50, [null]));
    await exporter.shutdown();
    expect(settings.stage.dropped.get('shutdown')).toBe(50);
    expect(settings.stage.sent).toBe(0);
    sink.release();
  });

  test('sending_queue.enabled: false holds no request back: while every consumer is busy and one request waits, new records are dropped and counted', async () => {
    const sink = await startSink();
    sink.stall();
    const run = async (enabled: boolean) => {
      const made = createExporter({
        endpoint: `http://${sink.address}`,
        sending_queue: { enabled, num_consumers: 1 },
        batch: { max_size: 10, delay: '10s' },
        timeout: '30s',
      });
      cleanups.push(() => made.exporter.shutdown());
      await made.exporter.start();
      // One request in flight (stalled), one waiting for the consumer, then three more.
      for (let k = 0; k < 5; k++) await made.exporter.consumeLogs(execBatch(10, [null], k * 10));
      return made.settings;
    };
    const queued = await run(true);
    const unqueued = await run(false);
    expect(queued.stage.droppedTotal()).toBe(0);
    expect(unqueued.stage.dropped.get('queue_full')).toBe(30);
    expect(unqueued.logLines.filter((l) => / warn /.test(l))).toEqual([
      expect.stringContaining('sending_queue.enabled is false and all 1 export requests are in flight'),
    ]);
    sink.release();
    await until(() => queued.stage.sent === 50 && unqueued.stage.sent === 20, 'the stalled requests and what waited to be delivered');
  });

  test('honours OTEL_EXPORTER_OTLP_LOGS_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS when the config leaves them unset', async () => {
    const sink = await startSink();
    const saved = { ...process.env };
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:1';
    process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = `http://${sink.address}`;
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'x-tenant=team-a';
    try {
      const made = createExporter({});
      cleanups.push(() => made.exporter.shutdown());
      await made.exporter.start();
      expect((made.exporter as unknown as { endpoint: string }).endpoint).toBe(sink.address);
      await made.exporter.consumeLogs(execBatch(3, [null]));
      await made.exporter.shutdown();
      expect(sink.records).toBe(3);
      expect(sink.lastMetadata?.get('x-tenant')).toEqual(['team-a']);
    } finally {
      process.env = saved;
    }
  });

  test('honours OTEL_EXPORTER_OTLP_INSECURE for a bare host:port and OTEL_EXPORTER_OTLP_LOGS_TIMEOUT per attempt', async () => {
    const sink = await startSink();
    const saved = { ...process.env };
    // No scheme: without INSECURE the exporter would speak TLS to this plaintext sink.
    process.env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = sink.address;
    process.env.OTEL_EXPORTER_OTLP_INSECURE = 'true';
    // Long enough for the first request's connect on a loaded machine, well under the 10 s default.
    process.env.OTEL_EXPORTER_OTLP_LOGS_TIMEOUT = '1000';
    try {
      const made = createExporter({ retry_on_failure: { enabled: false }, batch: { delay: '10ms' } });
      cleanups.push(() => made.exporter.shutdown());
      await made.exporter.start();
      await made.exporter.consumeLogs(execBatch(3, [null]));
      await until(() => made.settings.stage.sent === 3, 'records over plaintext', 10_000);
      expect(sink.records).toBe(3);

      sink.stall();
      await made.exporter.consumeLogs(execBatch(5, [null], 3));
      // 1 s per attempt, not the 10 s default.
      await until(() => made.settings.stage.dropped.get('export_failed') === 5, 'the stalled export to time out', 5_000);
      expect(made.settings.logLines.join('')).toMatch(/DEADLINE_EXCEEDED/);
      sink.release();
    } finally {
      process.env = saved;
    }
  });

  // Acceptance: the sink down for 20 s during a steady stream, then up.
  test('collector down for 20 s: every record within the queue bound arrives exactly once; the drop counter covers the rest', async () => {
    const sink = await startSink();
    const queueSize = 3000;
    const { exporter, settings } = await started({
      endpoint: `http://${sink.address}`,
      sending_queue: { queue_size: queueSize, num_consumers: 2 },
      batch: { max_size: 200, delay: '50ms' },
      retry_on_failure: { enabled: true, initial_interval: '100ms', max_interval: '1s', max_elapsed_time: '0s' },
      // An answer late past the deadline would have its request sent again: keep the deadline far from a loaded machine's delays.
      timeout: '10s',
    });
    let seq = 0;
    const perTick = 25; // 25 records / 50 ms = 500 records/s
    const produce = setInterval(() => {
      void exporter.consumeLogs(execBatch(perTick, [POD_CONTAINER, DOCKER_CONTAINER, null], seq));
      seq += perTick;
    }, 50);
    try {
      await until(() => sink.records > 500, 'steady stream');
      sink.stop();
      await new Promise((r) => setTimeout(r, 20_000));
      const beforeOutage = sink.records;
      await sink.start(sink.port);
      await until(() => sink.records > beforeOutage, 'the exporter to reach the restarted sink', 60_000);
    } finally {
      clearInterval(produce);
    }
    // gRPC's channel reconnects with its own backoff after an outage: wait for the backlog, not a fixed time.
    await until(() => settings.stage.sent + settings.stage.droppedTotal() === seq, 'the backlog to drain', 60_000);
    await exporter.shutdown();
    const produced = seq;
    const seqs = receivedSeqs(sink);
    const dropped = settings.stage.dropped.get('queue_full') ?? 0;
    expect(new Set(seqs).size).toBe(seqs.length); // exactly once
    expect(seqs.length + dropped).toBe(produced);
    expect(settings.stage.droppedTotal()).toBe(dropped);
    expect(settings.stage.sent).toBe(seqs.length);
    // 20 s at 500/s overflows a 3000-record queue: what is missing is exactly what was counted.
    expect(dropped).toBeGreaterThan(0);
    expect(seqs.length).toBeGreaterThan(queueSize);
  }, 150_000);
});

describe('OTLP over TLS', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'otlp-tls-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function makeCa(name: string): { key: string; cert: string } {
    const key = path.join(dir, `${name}.key`);
    const cert = path.join(dir, `${name}.pem`);
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`],
      { stdio: 'ignore' },
    );
    return { key, cert };
  }
  function makeLeaf(name: string, ca: { key: string; cert: string }): { key: string; cert: string } {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.pem`);
    const ext = path.join(dir, `${name}.ext`);
    writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], {
      stdio: 'ignore',
    });
    execFileSync(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext],
      { stdio: 'ignore' },
    );
    return { key, cert };
  }

  test('a self-signed CA works (with a client certificate; from config or OTEL_EXPORTER_OTLP_* variables); a wrong CA fails with a clear error', async () => {
    const ca = makeCa('test-ca');
    const other = makeCa('other-ca');
    const server = makeLeaf('server', ca);
    const client = makeLeaf('client', ca);
    const sink = await new OtlpSink({
      tls: { cert: readFileSync(server.cert), key: readFileSync(server.key), clientCa: readFileSync(ca.cert) },
    }).start();
    const exporters: Exporter[] = [];
    try {
      const good = createExporter({
        endpoint: `127.0.0.1:${sink.port}`,
        tls: { ca_file: ca.cert, cert_file: client.cert, key_file: client.key },
      });
      exporters.push(good.exporter);
      await good.exporter.start();
      await good.exporter.consumeLogs(sampleBatch());
      await good.exporter.shutdown();
      expect(good.settings.stage.sent).toBe(5);
      expect(byContainer(sink.requests[0]).get(POD_CONTAINER.id)!.resource['k8s.pod.name']).toBe('web-5dd5756b68-7xkqv');

      // The same through the standard variables only (no scheme → TLS), with gzip.
      const saved = { ...process.env };
      Object.assign(process.env, {
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `127.0.0.1:${sink.port}`,
        OTEL_EXPORTER_OTLP_CERTIFICATE: ca.cert,
        OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: client.cert,
        OTEL_EXPORTER_OTLP_CLIENT_KEY: client.key,
        OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      });
      try {
        const fromEnv = createExporter({});
        exporters.push(fromEnv.exporter);
        await fromEnv.exporter.start();
        await fromEnv.exporter.consumeLogs(sampleBatch());
        await fromEnv.exporter.shutdown();
        expect(fromEnv.settings.stage.sent).toBe(5);
        expect(fromEnv.settings.logLines.join('')).toContain(`exporting OTLP logs to 127.0.0.1:${sink.port} (compression gzip`);
      } finally {
        process.env = saved;
      }

      const bad = createExporter({
        endpoint: `127.0.0.1:${sink.port}`,
        tls: { ca_file: other.cert, cert_file: client.cert, key_file: client.key },
        retry_on_failure: { enabled: true, initial_interval: '100ms', max_interval: '200ms', max_elapsed_time: '1s' },
        batch: { delay: '10ms' },
      });
      exporters.push(bad.exporter);
      await bad.exporter.start();
      await bad.exporter.consumeLogs(sampleBatch());
      await until(() => bad.settings.stage.droppedTotal() === 5, 'the wrong-CA export to give up');
      expect(bad.settings.stage.dropped.get('export_failed')).toBe(5);
      const log = bad.settings.logLines.join('');
      expect(log).toMatch(/export to 127\.0\.0\.1:\d+ failed: 14 UNAVAILABLE: .*certificate.*\(TLS: check exporters\.otlp\.tls\.ca_file/);
      expect(sink.records).toBe(10);
    } finally {
      for (const e of exporters) await e.shutdown();
      sink.stop();
    }
  });

  test('an unreadable ca_file fails start() naming the key and the file', async () => {
    const { exporter } = createExporter({ endpoint: '127.0.0.1:4317', tls: { ca_file: path.join(dir, 'missing.pem') } });
    await expect(exporter.start()).rejects.toThrow(
      `exporters.otlp.tls.ca_file: cannot read ${path.join(dir, 'missing.pem')}: ENOENT (fix the path or mount the file)`,
    );
    await exporter.shutdown();
  });
});
