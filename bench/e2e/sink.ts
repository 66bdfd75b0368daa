/**
 * A counting OTLP/gRPC logs sink for the whole-agent benchmark, in a process
 * of its own (the bench forks it and reads its CPU from /proc): a plain
 * node:http2 server that answers LogsService/Export with an empty
 * ExportLogsServiceResponse and counts the LogRecords of each request by
 * walking the wire format (no decoding). It stands in for a Collector on the
 * same two cores at a cost per record near what a Collector's Go server pays,
 * where grpc-js's server (test/harness/otlp-sink.ts) costs several times the
 * agent's own CPU per record. Uncompressed requests only.
 *
 * Messages (IPC): → {cmd: 'count'} ← {records, requests}; → {cmd: 'reset'}.
 * Prints {"port": N} on stdout once listening.
 */
import * as http2 from 'node:http2';

const LOGS_EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const WINDOW_BYTES = 8 * 1024 * 1024;
/** gRPC frame of an empty ExportLogsServiceResponse: not compressed, length 0. */
const EMPTY_RESPONSE = Buffer.alloc(5);

let records = 0;
let requests = 0;

function varint(buf: Buffer, at: { p: number }): number {
  let v = 0;
  let mul = 1;
  let b: number;
  do {
    b = buf[at.p++];
    v += (b & 127) * mul;
    mul *= 128;
  } while (b & 128);
  return v;
}

/** LogRecords of an ExportLogsServiceRequest: resource_logs(1) → scope_logs(2) → log_records(2). */
function countLogRecords(buf: Buffer, start: number, end: number, depth: number): number {
  let count = 0;
  const at = { p: start };
  while (at.p < end) {
    const key = varint(buf, at);
    const wire = key & 7;
    const field = key >>> 3;
    if (wire === 0) varint(buf, at);
    else if (wire === 1) at.p += 8;
    else if (wire === 5) at.p += 4;
    else if (wire === 2) {
      const len = varint(buf, at);
      if (depth === 0 && field === 1) count += countLogRecords(buf, at.p, at.p + len, 1);
      else if (depth === 1 && field === 2) count += countLogRecords(buf, at.p, at.p + len, 2);
      else if (depth === 2 && field === 2) count++;
      at.p += len;
    } else throw new Error(`wire type ${wire}`);
  }
  return count;
}

function fail(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) },
    { endStream: true },
  );
}

const server = http2.createServer({ settings: { initialWindowSize: WINDOW_BYTES }, maxSessionMemory: 1024 });
server.on('session', (session) => session.setLocalWindowSize(WINDOW_BYTES));
server.on('stream', (stream, headers) => {
  if (headers[':path'] !== LOGS_EXPORT_PATH) {
    fail(stream, 12, `unknown method ${headers[':path']}`);
    return;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  stream.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length);
    let n = 0;
    try {
      for (let p = 0; p + 5 <= body.length;) {
        const size = body.readUInt32BE(p + 1);
        if (body[p] !== 0) throw new Error('compressed request (this sink counts uncompressed ones only)');
        n += countLogRecords(body, p + 5, p + 5 + size, 0);
        p += 5 + size;
      }
    } catch (err) {
      fail(stream, 3, (err as Error).message);
      return;
    }
    records += n;
    requests++;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(EMPTY_RESPONSE);
  });
  stream.on('error', () => undefined);
});

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'count') process.send!({ records, requests });
  else if (m.cmd === 'reset') {
    records = 0;
    requests = 0;
    process.send!({ records, requests });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
});
