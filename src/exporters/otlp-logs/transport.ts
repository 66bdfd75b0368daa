import * as http2 from 'node:http2';
import * as zlib from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { visitFields } from './proto-reader';

/**
 * Where and how to send: the OTLP/gRPC options after config and environment
 * were merged (`config.ts`, `exporter.ts`).
 */
export interface GrpcTarget {
  /** `host:port`. */
  address: string;
  /** TLS material; undefined: plaintext (h2c). `ca` undefined: the system's roots. */
  tls: { ca?: Buffer; key?: Buffer; cert?: Buffer } | undefined;
  /** Request metadata (gRPC headers); `-bin` keys carry Buffers. */
  metadata: Record<string, string | Buffer>;
  gzip: boolean;
  /** Per attempt. */
  timeoutMs: number;
  userAgent: string;
}

/** Trailers of a failed call, read as grpc-js's Metadata is (`-bin` values decoded from base64). */
export class CallMetadata {
  constructor(private readonly headers: http2.IncomingHttpHeaders = {}) {}
  get(key: string): Array<string | Buffer> {
    const raw = this.headers[key];
    if (raw === undefined) return [];
    const values = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (key.endsWith('-bin') ? v.split(',') : [v]));
    return key.endsWith('-bin') ? values.map((v) => Buffer.from(v.trim(), 'base64')) : values;
  }
}

/** A failed call, shaped as grpc-js reports one: `code`, `details`, trailers as `metadata`; message `<code> <NAME>: <details>`. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly metadata: CallMetadata = new CallMetadata(),
  ) {
    super(`${code} ${status[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

/** HTTP status of a response that is not gRPC → gRPC code (gRPC's http-grpc-status-mapping.md). */
function httpToGrpc(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

function rstToGrpc(code: number): number {
  const c = http2.constants;
  if (code === c.NGHTTP2_REFUSED_STREAM) return status.UNAVAILABLE;
  if (code === c.NGHTTP2_CANCEL) return status.CANCELLED;
  if (code === c.NGHTTP2_ENHANCE_YOUR_CALM) return status.RESOURCE_EXHAUSTED;
  if (code === c.NGHTTP2_INADEQUATE_SECURITY) return status.PERMISSION_DENIED;
  return status.INTERNAL;
}

function grpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Headers a caller's metadata may not set: HTTP/2 and gRPC's own. */
const RESERVED = new Set([
  'content-type',
  'te',
  'user-agent',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
  'host',
  'connection',
]);

/** After this many deadlines in a row the connection is replaced (as the OpenTelemetry gRPC transport does). */
const MAX_DEADLINES_IN_A_ROW = 5;

type Done = (err: GrpcError | undefined, response: Buffer | undefined) => void;

/**
 * gRPC unary calls over one HTTP/2 connection, straight on node:http2: the
 * request goes out as the caller's buffers behind a 5-byte gRPC frame header,
 * never copied into one message (grpc-js copies every message into a new
 * buffer with that header, and costs ~4× the CPU per byte sent: measured
 * 0.62–0.78 against 0.16 µs per 430-byte record, docs/benchmarks.md). Connects
 * lazily and again after the connection failed, closed or was told to go
 * away; what a call needs back (status, message, trailers) comes as grpc-js
 * would give it, so retry.ts classifies both alike.
 */
export class GrpcUnaryTransport {
  private session: http2.ClientHttp2Session | undefined;
  /** The last connection-level error, for the message of calls it failed. */
  private lastError: Error | undefined;
  private active = 0;
  private deadlinesInARow = 0;
  private closed = false;
  private readonly headers: http2.OutgoingHttpHeaders;
  private readonly authority: string;

  constructor(
    private readonly target: GrpcTarget,
    path: string,
  ) {
    this.authority = `${target.tls ? 'https' : 'http'}://${target.address}`;
    const headers: http2.OutgoingHttpHeaders = {
      [http2.constants.HTTP2_HEADER_METHOD]: 'POST',
      [http2.constants.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': target.userAgent,
      'grpc-accept-encoding': 'identity,deflate,gzip',
      'accept-encoding': 'identity',
      ...(target.gzip ? { 'grpc-encoding': 'gzip' } : {}),
    };
    for (const [key, value] of Object.entries(target.metadata)) {
      const k = key.toLowerCase();
      if (RESERVED.has(k) || k.startsWith(':')) continue;
      headers[k] = typeof value === 'string' ? value : value.toString('base64');
    }
    this.headers = headers;
  }

  /**
   * One call: the serialized request is `chunks` (`length` bytes in all), sent
   * in that order; `done` gets the response message, or the failure.
   */
  send(chunks: readonly Buffer[], length: number, done: Done): void {
    if (this.closed) {
      done(new GrpcError(status.UNAVAILABLE, 'the exporter is shut down'), undefined);
      return;
    }
    if (!this.target.gzip) {
      this.call(chunks, length, false, done);
      return;
    }
    zlib.gzip(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks as Buffer[], length), (err, zipped) => {
      if (err) done(new GrpcError(status.INTERNAL, `gzip failed: ${err.message}`), undefined);
      else this.call([zipped], zipped.length, true, done);
    });
  }

  /** Closes the connection once its calls are done; after `graceMs` it is cut. */
  shutdown(graceMs = 1000): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    if (!session || session.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Held open (ref'd) until it has closed: the caller awaits this.
      session.ref();
      const timer = setTimeout(() => session.destroy(), graceMs);
      session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private connect(): http2.ClientHttp2Session {
    const current = this.session;
    if (current && !current.closed && !current.destroyed) return current;
    const tls = this.target.tls;
    const session = http2.connect(this.authority, {
      ...(tls ? { ca: tls.ca, key: tls.key, cert: tls.cert, ALPNProtocols: ['h2'] } : {}),
      settings: { enablePush: false },
      // nghttp2 counts queued outgoing frames against this (MB); requests are megabytes.
      maxSessionMemory: 1024,
    });
    session.on('error', (err) => {
      this.lastError = err;
    });
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    // Draining: calls in flight finish, new ones go on a new connection.
    session.on('goaway', forget);
    session.on('close', forget);
    session.unref();
    this.session = session;
    this.lastError = undefined;
    return session;
  }

  private call(chunks: readonly Buffer[], length: number, compressed: boolean, done: Done): void {
    let session: http2.ClientHttp2Session;
    let stream: http2.ClientHttp2Stream;
    try {
      session = this.connect();
      stream = session.request({ ...this.headers, 'grpc-timeout': `${Math.max(1, Math.ceil(this.target.timeoutMs))}m` });
    } catch (err) {
      this.session?.destroy();
      this.session = undefined;
      done(new GrpcError(status.UNAVAILABLE, `cannot start the call: ${(err as Error).message}`), undefined);
      return;
    }
    this.active++;
    session.ref();
    let response: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const data: Buffer[] = [];
    let streamError: Error | undefined;
    let timedOut = false;
    let finished = false;
    const finish = (err: GrpcError | undefined, message: Buffer | undefined) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (--this.active === 0 && !session.destroyed) session.unref();
      if (err?.code === status.DEADLINE_EXCEEDED) {
        if (++this.deadlinesInARow > MAX_DEADLINES_IN_A_ROW) {
          this.deadlinesInARow = 0;
          if (this.session === session) this.session = undefined;
          session.destroy();
        }
      } else this.deadlinesInARow = 0;
      done(err, message);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stream.close(http2.constants.NGHTTP2_CANCEL);
      finish(new GrpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), undefined);
    }, this.target.timeoutMs);
    stream.on('response', (headers) => (response = headers));
    stream.on('data', (chunk: Buffer) => data.push(chunk));
    stream.on('trailers', (headers) => (trailers = headers));
    stream.on('error', (err) => (streamError = err));
    stream.on('close', () => {
      if (timedOut) return;
      const statusHeaders = trailers ?? (response?.['grpc-status'] !== undefined ? response : undefined);
      if (statusHeaders?.['grpc-status'] !== undefined) {
        const code = Number(statusHeaders['grpc-status']);
        if (code !== status.OK) {
          finish(
            new GrpcError(
              Number.isInteger(code) ? code : status.UNKNOWN,
              grpcMessage(statusHeaders['grpc-message']),
              new CallMetadata(statusHeaders),
            ),
            undefined,
          );
          return;
        }
        this.decodeResponse(data, response, finish);
        return;
      }
      const httpStatus = response?.[http2.constants.HTTP2_HEADER_STATUS];
      if (httpStatus !== undefined && Number(httpStatus) !== 200) {
        finish(new GrpcError(httpToGrpc(Number(httpStatus)), `Received HTTP status code ${httpStatus}`), undefined);
        return;
      }
      const connectionError = this.lastError ?? (session.destroyed || session.closed ? streamError : undefined);
      if (connectionError || response === undefined) {
        const why = connectionError ?? streamError;
        const prefix = response === undefined ? 'No connection established' : 'Connection dropped';
        finish(
          new GrpcError(status.UNAVAILABLE, `${prefix}. Last error: ${why ? why.message : `stream closed with code ${stream.rstCode}`}`),
          undefined,
        );
        return;
      }
      const rst = stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR;
      finish(
        new GrpcError(rstToGrpc(rst), `Received RST_STREAM with code ${rst}${streamError ? ` (${streamError.message})` : ''}`),
        undefined,
      );
    });
    const head = Buffer.allocUnsafe(5);
    head[0] = compressed ? 1 : 0;
    head.writeUInt32BE(length, 1);
    stream.cork();
    stream.write(head);
    for (const chunk of chunks) stream.write(chunk);
    stream.uncork();
    stream.end();
  }

  /** The response message out of its gRPC frame, inflated if the server compressed it. */
  private decodeResponse(data: Buffer[], response: http2.IncomingHttpHeaders | undefined, finish: Done): void {
    const body = data.length === 1 ? data[0] : Buffer.concat(data);
    if (body.length < 5) {
      finish(undefined, Buffer.alloc(0));
      return;
    }
    const message = body.subarray(5, 5 + body.readUInt32BE(1));
    if (body[0] === 0) {
      finish(undefined, message);
      return;
    }
    const encoding = String(response?.['grpc-encoding'] ?? 'identity');
    const inflate = encoding === 'gzip' ? zlib.gunzip : encoding === 'deflate' ? zlib.inflate : undefined;
    if (!inflate) {
      finish(new GrpcError(status.INTERNAL, `compressed response with unsupported grpc-encoding "${encoding}"`), undefined);
      return;
    }
    inflate(message, (err, plain) =>
      err ? finish(new GrpcError(status.INTERNAL, `cannot decompress the response: ${err.message}`), undefined) : finish(undefined, plain),
    );
  }
}

/** ExportLogsServiceResponse.partial_success {rejected_log_records = 1, error_message = 2}: what was rejected, and why. */
export function partialSuccess(response: Buffer | undefined): { rejected: number; message: string } {
  const out = { rejected: 0, message: '' };
  if (!response) return out;
  try {
    visitFields(response, (field, wire, _v, start, end) => {
      if (field !== 1 || wire !== 2) return;
      const partial = response.subarray(start, end);
      visitFields(partial, (f, w, v, s, e) => {
        if (f === 1 && w === 0) out.rejected = v;
        if (f === 2 && w === 2) out.message = partial.toString('utf8', s, e);
      });
    });
  } catch {
    /* an unreadable response body counts as full success, as the OpenTelemetry exporter treats it */
  }
  return out;
}
