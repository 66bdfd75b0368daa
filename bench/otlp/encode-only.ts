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
import { mixedRecord } from './mixed-records';

const specs: RecordSpec[] = Array.from({ length: 1024 }, (_, seq) => mixedRecord(seq));
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
