/// <reference lib="es2024.arraybuffer" />
import { readFileSync } from 'node:fs';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { CompressionAlgorithm, type IOtlpExportDelegate } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyOtlpGrpcOptions,
  createEmptyMetadata,
  createInsecureCredentials,
  createOtlpGrpcExportDelegate,
  createSslCredentials,
} from '@opentelemetry/otlp-grpc-exporter-base';
import { type IExportLogsServiceResponse, type ISerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { EventBatch } from '../../events';
import type { ComponentSettings, Exporter } from '../../pipeline/component';
import { once } from '../../pipeline/component';
import { WarnOnce } from '../../pipeline/logger';
import { countedPodMetadataPolicy } from '../log-mapping/pod-metadata';
import { type OtlpExporterConfig, type ResolvedOtlpConfig, resolveConfig } from './config';
import { type EncodedRequest, LogsRequestEncoder } from './encoder';
import { type ExporterMetrics, exporterMetrics } from './metrics';
import { backoffMs, classifyError } from './retry';

/** @opentelemetry/core's ExportResult, structurally: code 0 is SUCCESS. */
interface ExportResult {
  code: number;
  error?: Error;
}
const EXPORT_SUCCESS = 0;

const LOGS_SERVICE_NAME = 'LogsExportService';
const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

interface QueuedRequest extends EncodedRequest {
  attempt: number;
  firstSentAt: number;
  retryTimer: NodeJS.Timeout | undefined;
  /** Finished, or abandoned at shutdown: late callbacks are ignored. */
  done: boolean;
}

/**
 * Our requests are already protobuf bytes: the serializer passes them
 * through, and keeps the partial-success count of the response it decodes
 * (the delegate decodes it synchronously right before our callback runs).
 */
class PreEncodedLogsSerializer implements ISerializer<EncodedRequest, IExportLogsServiceResponse> {
  lastRejected = 0;
  lastRejectMessage = '';
  serializeRequest(request: EncodedRequest): Uint8Array {
    // The gRPC transport copies what it gets with Buffer.from(); an ArrayBuffer
    // holding exactly the request is wrapped instead (measured: ~0.9 ms and a
    // 3.6 MB allocation per request saved, and far fewer old-space GCs).
    const p = request.payload;
    return (p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p.buffer : p) as Uint8Array;
  }
  deserializeResponse(data: Uint8Array): IExportLogsServiceResponse {
    const response = ProtobufLogsSerializer.deserializeResponse(data);
    this.lastRejected = Number(response.partialSuccess?.rejectedLogRecords ?? 0);
    this.lastRejectMessage = response.partialSuccess?.errorMessage ?? '';
    return response;
  }
}

/** FIFO without Array.shift: a head index, compacted now and then. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get size(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}

function readTlsFile(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`exporters.otlp.tls.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (fix the path or mount the file)`);
  }
}

function tlsHint(message: string): string {
  return /certificate|ssl|tls|handshake/i.test(message)
    ? ' (TLS: check exporters.otlp.tls.ca_file / OTEL_EXPORTER_OTLP_CERTIFICATE names the CA that signed the collector\'s certificate, or set tls.insecure for a plaintext collector)'
    : '';
}

/**
 * OTLP/gRPC logs exporter. Records are encoded into protobuf as they arrive
 * (no per-record objects), cut into requests by count, bytes and delay, and
 * sent through the OpenTelemetry gRPC export delegate (transport, TLS,
 * compression, headers, env handling). Holds at most `queue_size` records
 * (with `sending_queue.enabled: false`, no more than the requests in flight,
 * one waiting and the open batch); retries retryable gRPC codes itself with
 * exponential backoff.
 */
export class OtlpLogsExporter implements Exporter {
  private readonly cfg: ResolvedOtlpConfig;
  private readonly encoder: LogsRequestEncoder;
  private readonly serializer = new PreEncodedLogsSerializer();
  private readonly metrics: ExporterMetrics;
  private readonly warnings: WarnOnce;
  private delegate: IOtlpExportDelegate<EncodedRequest> | undefined;
  private url = '';
  private readonly waiting = new Fifo<QueuedRequest>();
  private readonly inFlight = new Set<QueuedRequest>();
  private queued = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private failing = false;
  private drainWaiters: Array<() => void> = [];
  /**
   * Request buffers, resizable up to `batchMaxBytes` and recycled: allocating
   * a few MiB per request makes V8 collect often for external memory. Each is
   * resized to its request exactly, so the transport can wrap it without a
   * copy. At most one per consumer plus two are kept.
   */
  private readonly spareBuffers: ArrayBuffer[] = [];

  constructor(private readonly config: OtlpExporterConfig, private readonly settings: ComponentSettings) {
    this.cfg = resolveConfig(config);
    this.encoder = new LogsRequestEncoder(
      settings.host,
      config.resource_attributes,
      { maxRecords: this.cfg.batchMaxSize, maxBytes: this.cfg.batchMaxBytes },
      (size) => this.requestBuffer(size),
      countedPodMetadataPolicy(config.pod_metadata, settings.metrics, settings.id),
    );
    this.warnings = new WarnOnce(settings.logger);
    this.metrics = exporterMetrics(settings.metrics);
    this.metrics.sources.add({
      id: settings.id,
      capacityRecords: this.cfg.queueSize,
      queuedRecords: () => this.queued,
      inFlightRequests: () => this.inFlight.size,
    });
  }

  /** The gRPC target after config and environment were merged, e.g. `collector:4317`. */
  get endpoint(): string {
    return this.url;
  }

  async start(): Promise<void> {
    const tls = this.config.tls;
    let credentials: ChannelCredentials | undefined;
    if (tls?.insecure) credentials = createInsecureCredentials();
    else if (tls && (tls.ca_file || tls.cert_file || tls.key_file)) {
      credentials = createSslCredentials(
        tls.ca_file ? readTlsFile(tls.ca_file, 'ca_file') : undefined,
        tls.key_file ? readTlsFile(tls.key_file, 'key_file') : undefined,
        tls.cert_file ? readTlsFile(tls.cert_file, 'cert_file') : undefined,
      );
    }
    const metadata = createEmptyMetadata();
    for (const [k, v] of Object.entries(this.config.headers)) metadata.set(k, v);
    const options = convertLegacyOtlpGrpcOptions(
      {
        url: this.config.endpoint,
        credentials,
        metadata,
        compression: this.config.compression === undefined ? undefined : this.config.compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
        timeoutMillis: this.cfg.timeoutMs,
        // We bound concurrency ourselves; headroom so the delegate's own guard never rejects.
        concurrencyLimit: this.cfg.numConsumers * 2,
        userAgent: 'ebpf-container-otel',
      },
      'LOGS',
    );
    this.url = options.url;
    this.delegate = createOtlpGrpcExportDelegate(
      options,
      this.serializer,
      'otlp_grpc_log_exporter',
      { name: 'log', countItems: (r: EncodedRequest) => r.records },
      undefined,
      LOGS_SERVICE_NAME,
      LOGS_EXPORT_PATH,
    );
    this.settings.logger.info(`exporting OTLP logs to ${this.url} (compression ${options.compression}, timeout ${options.timeoutMillis}ms)`);
    this.dispatch();
  }

  async consumeLogs(batch: EventBatch): Promise<void> {
    const n = batch.length;
    if (n === 0) return;
    const stage = this.settings.stage;
    if (this.stopping) {
      stage.drop(n, 'shutdown');
      return;
    }
    // Without a sending queue, a request waiting for a consumer is as much as is held back.
    const noRoom = !this.cfg.queueEnabled && this.waiting.size > 0;
    const accept = noRoom ? 0 : Math.min(n, this.cfg.queueSize - this.queued);
    if (accept < n) {
      stage.drop(n - accept, 'queue_full');
      if (noRoom) {
        this.warnings.warn(
          'no_queue',
          `sending_queue.enabled is false and all ${this.cfg.numConsumers} export requests are in flight: dropping records while ${this.url} catches up (enable the queue to buffer up to sending_queue.queue_size records)`,
        );
      } else {
        this.warnings.warn('queue_full', `queue full (${this.cfg.queueSize} records, sending_queue.queue_size): dropping records while ${this.url} catches up`);
      }
    }
    if (accept <= 0) return;
    const encoder = this.encoder;
    encoder.add(batch, 0, accept, (request) => this.enqueue(request));
    if (encoder.records >= this.cfg.batchMaxSize) this.seal();
    this.queued += accept;
    if (encoder.records > 0 && !this.batchTimer) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = undefined;
        if (this.encoder.records > 0) this.seal();
        this.dispatch();
      }, this.cfg.batchDelayMs);
      this.batchTimer.unref();
    }
    this.dispatch();
  }

  readonly shutdown = once(async () => {
    this.stopping = true;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.encoder.records > 0) this.seal();
    this.dispatch();
    const drained = this.queued === 0 || (this.delegate !== undefined && (await this.waitDrained(this.cfg.shutdownTimeoutMs)));
    if (!drained) {
      const left = [...this.waiting.drain(), ...this.inFlight];
      let records = 0;
      for (const r of left) {
        r.done = true;
        clearTimeout(r.retryTimer);
        records += r.records;
      }
      this.inFlight.clear();
      this.queued = 0;
      this.settings.stage.drop(records, 'shutdown');
      this.settings.logger.warn(`shutdown: ${records} records not delivered to ${this.url || 'the collector'} within shutdown_timeout (${this.config.shutdown_timeout}); dropped`);
    }
    if (this.delegate) {
      // The delegate waits for its in-flight calls; abandoned ones may take up to the call timeout.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.delegate.shutdown(), new Promise<void>((r) => (timer = setTimeout(r, drained ? 1000 : 100)))]);
      clearTimeout(timer);
    }
  });

  private seal(): void {
    this.enqueue(this.encoder.seal());
  }

  private enqueue(request: EncodedRequest): void {
    this.waiting.push({ ...request, attempt: 0, firstSentAt: 0, retryTimer: undefined, done: false });
    if (this.batchTimer && this.encoder.records === 0) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
  }

  private dispatch(): void {
    if (!this.delegate) return;
    while (this.inFlight.size < this.cfg.numConsumers) {
      const r = this.waiting.shift();
      if (!r) break;
      this.inFlight.add(r);
      this.send(r);
    }
    if (this.queued === 0 && this.drainWaiters.length > 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  private send(r: QueuedRequest): void {
    if (r.firstSentAt === 0) r.firstSentAt = Date.now();
    const started = process.hrtime.bigint();
    this.delegate!.export(r, (result) => this.onResult(r, result, started));
  }

  private onResult(r: QueuedRequest, result: ExportResult, started: bigint): void {
    if (r.done) return;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const exporter = this.settings.id;
    if (result.code === EXPORT_SUCCESS) {
      this.metrics.sendDuration.observe({ component: exporter, outcome: 'success' }, seconds);
      const rejected = Math.min(this.serializer.lastRejected, r.records);
      if (rejected > 0) {
        this.settings.logger.warn(`${this.url} rejected ${rejected} of ${r.records} records: ${this.serializer.lastRejectMessage || '(no message)'}`);
      }
      this.serializer.lastRejected = 0;
      if (this.failing) {
        this.failing = false;
        this.warnings.reset('export');
        this.settings.logger.info(`export to ${this.url} recovered`);
      }
      this.finish(r, rejected);
      return;
    }
    const error = result.error;
    const message = error?.message ?? 'unknown error';
    const c = classifyError(error);
    const retry = this.cfg.retry;
    if (c.retryable && retry.enabled) {
      const delay = c.retryAfterMs ?? backoffMs(r.attempt, retry.initialMs, retry.maxMs);
      const elapsed = Date.now() - r.firstSentAt;
      if (retry.maxElapsedMs === 0 || elapsed + delay <= retry.maxElapsedMs) {
        this.metrics.sendDuration.observe({ component: exporter, outcome: 'retryable' }, seconds);
        this.metrics.retries.inc({ component: exporter, code: c.code });
        this.failing = true;
        this.warnings.warn('export', `export to ${this.url} failed: ${message}${tlsHint(message)}; retrying with backoff (up to retry_on_failure.max_elapsed_time)`);
        r.attempt++;
        r.retryTimer = setTimeout(() => {
          r.retryTimer = undefined;
          if (!r.done) this.send(r);
        }, delay);
        r.retryTimer.unref();
        return;
      }
    }
    this.metrics.sendDuration.observe({ component: exporter, outcome: 'failed' }, seconds);
    this.failing = true;
    const why = c.retryable ? (retry.enabled ? `still failing after ${Date.now() - r.firstSentAt}ms (max_elapsed_time)` : 'retry_on_failure is disabled') : `${c.code} is not retryable`;
    this.settings.logger.error(`export of ${r.records} records to ${this.url} failed: ${message}${tlsHint(message)}; ${why}, records dropped`);
    this.finish(r, r.records);
  }

  private finish(r: QueuedRequest, dropped: number): void {
    r.done = true;
    this.recycle(r);
    this.inFlight.delete(r);
    this.queued -= r.records;
    this.settings.stage.send(r.records - dropped);
    this.settings.stage.drop(dropped, 'export_failed');
    // Warn again about a full queue only after it had room to spare.
    if (this.queued < this.cfg.queueSize / 2) this.warnings.reset('queue_full');
    this.dispatch();
    // Without a queue, requests wait and drain all the time; only a full catch-up ends the episode.
    if (this.inFlight.size === 0) this.warnings.reset('no_queue');
  }

  /** A buffer of exactly `size` bytes over an ArrayBuffer of its own (see PreEncodedLogsSerializer). */
  private requestBuffer(size: number): Buffer {
    const maxBytes = this.cfg.batchMaxBytes;
    // Only a request of one record larger than batch.max_bytes gets here.
    if (size > maxBytes) return Buffer.from(new ArrayBuffer(size));
    const ab = this.spareBuffers.pop() ?? new ArrayBuffer(size, { maxByteLength: maxBytes });
    ab.resize(size);
    return Buffer.from(ab);
  }

  private recycle(r: QueuedRequest): void {
    const ab = r.backing.buffer;
    if (ab instanceof ArrayBuffer && ab.resizable && this.spareBuffers.length < this.cfg.numConsumers + 2) this.spareBuffers.push(ab);
  }

  private waitDrained(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
