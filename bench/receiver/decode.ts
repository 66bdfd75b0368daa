/**
 * Drain-only decode rate: EventBatch.parse over batches as the addon delivers
 * them, plus the header reads every downstream does (type, pid, tgid, mntns,
 * timestamp). No BPF involved. Target: >= 8 M records/s.
 *
 *   node dist/bench/receiver/decode.js   (BENCH_SECONDS, BATCH env to change)
 */
import { BootClock, EventBatch, encodeRecords, type RecordSpec } from '../../src/events';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const BATCH = Number(process.env.BATCH ?? 8192);

export function decodeRate(seconds: number, batchSize: number): { recordsPerSecond: number; checksum: number } {
  const specs: RecordSpec[] = Array.from({ length: batchSize }, (_, i) =>
    i % 4 === 3
      ? { type: 'exit', tsBootNs: BigInt(i), pid: 1000 + (i % 50), mntns: 4026531840 + (i % 8), comm: 'worker', exitCode: 0 }
      : {
          type: 'open',
          tsBootNs: BigInt(i),
          pid: 1000 + (i % 50),
          mntns: 4026531840 + (i % 8),
          comm: 'worker',
          path: '/nonexistent/ebpf-container-otel-bench',
          ret: -2,
        },
  );
  const buffer = encodeRecords(specs);
  const clock = new BootClock();
  let records = 0;
  let checksum = 0;
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() < end) {
    const { batch } = EventBatch.parse(buffer, clock);
    for (let i = 0; i < batch.length; i++) {
      checksum += batch.typeCode(i) + batch.pid(i) + batch.tgid(i) + batch.mntns(i);
      if (batch.tsBootNs(i) < 0n) checksum++;
    }
    records += batch.length;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { recordsPerSecond: records / elapsed, checksum };
}

if (require.main === module) {
  const { recordsPerSecond } = decodeRate(SECONDS, BATCH);
  process.stdout.write(`drain-only decode (parse + 5 header reads), batch ${BATCH}: ${(recordsPerSecond / 1e6).toFixed(2)} M records/s\n`);
}
