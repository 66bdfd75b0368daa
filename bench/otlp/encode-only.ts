/**
 * The encoder alone (no transport): records/s and bytes per record of
 * ExportLogsServiceRequest bytes built from one batch of mixed records, and
 * the TypeScript mapping alone (a writer that drops everything, as the file
 * exporter's mapping runs) for comparison.
 *
 *   node_modules/.bin/tsc -p tsconfig.json && node_modules/.bin/node dist/bench/otlp/encode-only.js
 */
import { BootClock, EventBatch, encodeRecords, type RecordSpec } from '../../src/events';
import { writeLogRecord } from '../../src/exporters/log-mapping';
import { LogsRequestEncoder } from '../../src/exporters/otlp-logs';
const arg = 'y'.repeat(120);
const specs: RecordSpec[] = [];
for (let seq = 0; seq < 1024; seq++) {
  const common = { tsBootNs: process.hrtime.bigint(), pid: 1000 + seq, ppid: 1, uid: 1000, mntns: 1, cgroupId: 42, comm: 'worker' };
  switch (seq % 4) {
    case 0:
      specs.push({
        ...common,
        type: 'exec',
        filename: '/usr/local/bin/worker-process',
        args: ['/usr/local/bin/worker-process', '--id', String(seq), arg],
      });
      break;
    case 1:
      specs.push({ ...common, type: 'open', path: `/var/lib/app/data/segment-${seq}.db-${arg}`, flags: 2, ret: 3 });
      break;
    case 2:
      specs.push({
        ...common,
        type: 'connect',
        family: 4,
        address: new Uint8Array([10, 1, 0, seq & 255]),
        port: 5432,
        ret: 0,
        sockType: 1,
      });
      break;
    default:
      specs.push({ ...common, type: 'exit', exitCode: 0, durationNs: 1_000_000n });
  }
}
const { batch } = EventBatch.parse(encodeRecords(specs), new BootClock());
batch.containers = specs.map(() => null);
// Each request's buffers go back to the encoder once it is sealed, as the exporter hands them back once sent.
const enc = new LogsRequestEncoder({ hostname: 'h', nodeName: '' }, {}, { maxRecords: 8192, maxBytes: 4 * 1024 * 1024 });
for (let round = 0; round < 10; round++) {
  const t0 = process.cpuUsage();
  let bytes = 0;
  for (let b = 0; b < 500; b++)
    enc.add(batch, 0, batch.length, (request) => {
      bytes += request.bytes;
      enc.release(request);
    });
  const s = process.cpuUsage(t0).user / 1e6;
  console.log(`encoder: ${((500 * 1024) / s / 1e6).toFixed(2)} M records per CPU-second, ${(bytes / (500 * 1024)).toFixed(0)} B/record`);
}
const noop = { begin() {}, bodyUtf8() {}, bodyText() {}, str() {}, utf8() {}, utf8List() {}, int() {}, bool() {}, end() {} };
for (let round = 0; round < 6; round++) {
  const t0 = process.cpuUsage();
  for (let b = 0; b < 500; b++) for (let i = 0; i < batch.length; i++) writeLogRecord(batch, i, noop);
  const s = process.cpuUsage(t0).user / 1e6;
  console.log(`mapping only: ${((500 * 1024) / s / 1e6).toFixed(2)} M records per CPU-second`);
}
