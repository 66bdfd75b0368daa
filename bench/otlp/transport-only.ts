/**
 * The transport ceiling: one pre-serialized request (7000 records, ~3.6 MB)
 * sent 72 times over a bare grpc-js client, 4 in flight, to a sink at argv[2]
 * (e.g. a test OtlpSink). No encoding at all.
 *
 *   node_modules/.bin/node dist/bench/otlp/transport-only.js 127.0.0.1:PORT
 */
import * as grpc from '@grpc/grpc-js';
import { BootClock, EventBatch, encodeRecords, type RecordSpec } from '../../src/events';
import { LogsRequestEncoder } from '../../src/exporters/otlp-logs';
const arg = 'y'.repeat(120);
const specs: RecordSpec[] = [];
for (let seq = 0; seq < 7000; seq++)
  specs.push({
    type: 'exec',
    tsBootNs: 1n,
    pid: seq,
    mntns: 1,
    comm: 'w',
    filename: '/usr/local/bin/worker-process',
    args: ['/usr/local/bin/worker-process', String(seq), arg],
  });
const { batch } = EventBatch.parse(encodeRecords(specs), new BootClock());
if (!process.argv[2]) {
  console.error('usage: transport-only.js HOST:PORT   (an OTLP/gRPC sink; e.g. a test OtlpSink started in another process)');
  process.exit(2);
}
const enc = new LogsRequestEncoder({ hostname: 'h', nodeName: '' }, {}, { maxRecords: 7000, maxBytes: 8 * 1024 * 1024 });
enc.add(batch, 0, batch.length, () => {});
const payload = enc.seal().payload;
const Client = grpc.makeGenericClientConstructor(
  {
    export: {
      path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  },
  'x',
);
const client = new Client(process.argv[2], grpc.credentials.createInsecure()) as unknown as {
  export(b: Buffer, cb: (e: Error | null) => void): void;
};
const total = 72;
let sent = 0;
let done = 0;
const t0 = process.hrtime.bigint();
const go = () => {
  if (sent >= total) return;
  sent++;
  client.export(payload, (e) => {
    if (e) throw e;
    done++;
    if (done === total) {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(`${payload.length} B/request, ${((total * 7000) / s / 1000).toFixed(0)}k records/s`);
      process.exit(0);
    }
    go();
  });
};
for (let k = 0; k < 4; k++) go();
