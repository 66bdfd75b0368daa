import * as grpc from '@grpc/grpc-js';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import * as path from 'node:path';
import type { JsonRequest } from '../exporters/fixtures';

/*
 * The official OTLP definitions as generated (protobufjs static module) and
 * shipped by @opentelemetry/otlp-transformer 0.214 — the last release that
 * ships logs in its generated root; installed as `otlp-transformer-protos`.
 */
interface GeneratedMessage {
  decode(reader: Uint8Array): unknown;
  encode(message: unknown): { finish(): Uint8Array };
  fromObject(object: unknown): unknown;
  toObject(message: unknown, options: Record<string, unknown>): unknown;
}
interface GeneratedRoot {
  opentelemetry: {
    proto: { collector: { logs: { v1: { ExportLogsServiceRequest: GeneratedMessage; ExportLogsServiceResponse: GeneratedMessage } } } };
  };
}
const PROTOS_ROOT = path.join(path.dirname(require.resolve('otlp-transformer-protos/package.json')), 'build/src/generated/root.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const root = require(PROTOS_ROOT) as GeneratedRoot;
export const ExportLogsServiceRequest = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
const ExportLogsServiceResponse = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;

/** Decodes request bytes with the official definitions into the protobuf-JSON shape. */
export function decodeLogsRequest(bytes: Uint8Array): JsonRequest {
  const message = ExportLogsServiceRequest.decode(bytes);
  return ExportLogsServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String }) as JsonRequest;
}

export const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';

export interface SinkTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA. */
  clientCa?: Buffer;
}

export interface Failure {
  code: grpc.status;
  /** How many more requests to fail; Infinity until `succeed()`. */
  remaining: number;
  /** For RESOURCE_EXHAUSTED: a google.rpc.RetryInfo delay. */
  retryDelayMs?: number;
}

/**
 * A local OTLP/gRPC logs receiver for tests and benchmarks: decodes every
 * request with the official definitions (or only counts, for benches), and
 * fails with a chosen gRPC code or stalls on demand. `stop()` and `start()`
 * again on the same port simulate a collector outage.
 */
export class OtlpSink {
  readonly requests: JsonRequest[] = [];
  readonly rawSizes: number[] = [];
  records = 0;
  calls = 0;
  /** Metadata (headers) of the last request answered. */
  lastMetadata: grpc.Metadata | undefined;
  private server: grpc.Server | undefined;
  private failure: Failure | undefined;
  private stalled: Array<() => void> | undefined;
  port = 0;

  constructor(private readonly options: { tls?: SinkTls; decode?: boolean; partialReject?: number } = {}) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<this> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
    const definition: grpc.ServiceDefinition = {
      export: {
        path: LOGS_EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    };
    server.addService(definition, {
      export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => this.handle(call.request, cb, call.metadata),
    });
    const creds = this.options.tls
      ? grpc.ServerCredentials.createSsl(
          this.options.tls.clientCa ?? null,
          [{ cert_chain: this.options.tls.cert, private_key: this.options.tls.key }],
          this.options.tls.clientCa !== undefined,
        )
      : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, creds, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    widenFlowControlWindows(server);
    this.server = server;
    return this;
  }

  /** Drops the listener and every connection at once, like a crashed collector. */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
    this.release();
  }

  failWith(code: grpc.status, remaining = Infinity, retryDelayMs?: number): void {
    this.failure = { code, remaining, retryDelayMs };
  }
  succeed(): void {
    this.failure = undefined;
  }
  /** Requests received from now on get no answer until `release()`. */
  stall(): void {
    this.stalled ??= [];
  }
  release(): void {
    const waiting = this.stalled ?? [];
    this.stalled = undefined;
    for (const answer of waiting) answer();
  }

  /** Counts a request before its answer is sent: a test waiting on these counts must not read the exporter's yet. */
  private handle(request: Buffer, cb: grpc.sendUnaryData<Buffer>, metadata: grpc.Metadata): void {
    this.calls++;
    this.lastMetadata = metadata;
    if (this.stalled) {
      this.stalled.push(() => this.handle(request, cb, metadata));
      this.calls--;
      return;
    }
    const failure = this.failure;
    if (failure && failure.remaining > 0) {
      failure.remaining--;
      const trailers = new grpc.Metadata();
      if (failure.retryDelayMs !== undefined)
        trailers.set('grpc-status-details-bin', encodeStatusWithRetryInfo(failure.code, failure.retryDelayMs));
      cb({ code: failure.code, details: `sink told to fail with ${grpc.status[failure.code]}`, metadata: trailers }, null);
      return;
    }
    this.rawSizes.push(request.length);
    let accepted: number;
    if (this.options.decode === false) {
      accepted = countLogRecords(request);
    } else {
      const decoded = decodeLogsRequest(request);
      this.requests.push(decoded);
      accepted = decoded.resourceLogs.reduce((n, rl) => n + rl.scopeLogs.reduce((m, sl) => m + sl.logRecords.length, 0), 0);
    }
    const rejected = Math.min(this.options.partialReject ?? 0, accepted);
    this.records += accepted - rejected;
    const response = rejected > 0 ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage: 'sink rejects some records' } } : {};
    cb(null, Buffer.from(ExportLogsServiceResponse.encode(ExportLogsServiceResponse.fromObject(response)).finish()));
  }
}

const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * A Collector's Go gRPC server grows its HTTP/2 flow-control windows to the
 * link (BDP estimation, up to 16 MiB); grpc-js servers keep Node's 64 KiB,
 * which makes a multi-MiB request wait on ~50 window updates. The sink
 * advertises 8 MiB windows so it measures exporters, not its own windows.
 * grpc-js has no option for this: its HTTP/2 servers are reached through a
 * private field, and without it the sink keeps the defaults (and says so).
 */
function widenFlowControlWindows(server: grpc.Server): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(http2Servers instanceof Map)) {
    console.warn('otlp-sink: grpc-js internals changed (no http2Servers); keeping 64 KiB HTTP/2 windows');
    return;
  }
  for (const h of http2Servers.keys()) {
    h.on('session', (session: ServerHttp2Session) => {
      session.setLocalWindowSize(WINDOW_BYTES);
      session.settings({ initialWindowSize: WINDOW_BYTES });
    });
  }
}

/** Counts LogRecords by walking the wire format, for benchmarks where decoding would dominate. */
function countLogRecords(buf: Buffer): number {
  let count = 0;
  const walk = (start: number, end: number, depth: number) => {
    let p = start;
    while (p < end) {
      let key = 0;
      let shift = 0;
      let b: number;
      do {
        b = buf[p++];
        key += (b & 127) * 2 ** shift;
        shift += 7;
      } while (b & 128);
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) {
        while (buf[p++] & 128);
      } else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else {
        let len = 0;
        shift = 0;
        do {
          b = buf[p++];
          len += (b & 127) * 2 ** shift;
          shift += 7;
        } while (b & 128);
        // request.resource_logs(1) → resource_logs.scope_logs(2) → scope_logs.log_records(2)
        if (depth === 0 && field === 1) walk(p, p + len, 1);
        else if (depth === 1 && field === 2) walk(p, p + len, 2);
        else if (depth === 2 && field === 2) count++;
        p += len;
      }
    }
  };
  walk(0, buf.length, 0);
  return count;
}

/** google.rpc.Status{code, message, details:[Any{RetryInfo{retry_delay}}]} — hand-encoded, three tiny messages. */
function encodeStatusWithRetryInfo(code: number, delayMs: number): Buffer {
  const varint = (v: number) => {
    const out: number[] = [];
    while (v >= 128) {
      out.push((v & 127) | 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return Buffer.from(out);
  };
  const len = (field: number, body: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
  const seconds = Math.floor(delayMs / 1000);
  const nanos = (delayMs % 1000) * 1_000_000;
  const duration = Buffer.concat([varint(1 << 3), varint(seconds), varint(2 << 3), varint(nanos)]);
  const retryInfo = len(1, duration);
  const any = Buffer.concat([len(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), len(2, retryInfo)]);
  return Buffer.concat([varint(1 << 3), varint(code), len(3, any)]);
}
