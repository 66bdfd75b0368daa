import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BootClock, type EventBatch } from '../../src/events';
import { fileExporterFactory } from '../../src/exporters/file';
import { LogsRequestEncoder } from '../../src/exporters/otlp-logs';
import { bootTimeNs, nativeClockSource, realtimeMinusBoottimeNs } from '../../src/native';
import type { LogsConsumer } from '../../src/pipeline/component';
import { mergeDefaults } from '../../src/pipeline/config';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf';
import type { JsonLogRecord, JsonRequest } from '../exporters/fixtures';
import { decodeLogsRequest } from '../harness/otlp-sink';
import { testSettings } from './collector';
import { requires } from '../harness/requires';

const MS = 1_000_000n;

function records(req: JsonRequest): JsonLogRecord[] {
  return req.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords));
}

requires('bpf').describe('boot clock on the kernel clocks (addon)', () => {
  it('reads CLOCK_REALTIME − CLOCK_BOOTTIME at ns precision, the same on every read, and as Date.now() has it', () => {
    const offsets = Array.from({ length: 50 }, () => realtimeMinusBoottimeNs());
    const before = BigInt(Date.now()) * MS;
    const now = bootTimeNs() + realtimeMinusBoottimeNs();
    const after = BigInt(Date.now() + 1) * MS;
    expect(now).toBeGreaterThanOrEqual(before - 2n * MS);
    expect(now).toBeLessThanOrEqual(after + 2n * MS);
    // Both clocks tick at one rate between NTP adjustments: only the read's own jitter remains.
    const sorted = [...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted[sorted.length - 1] - sorted[0]).toBeLessThan(100_000n);
    expect(offsets.some((o) => o % MS !== 0n)).toBe(true);
  });

  it('nowEpochNs() never goes back, and is never before a time stamped earlier', () => {
    const clock = new BootClock(nativeClockSource);
    let last = clock.nowEpochNs();
    for (let i = 0; i < 10_000; i++) {
      const stamped = clock.toEpochNs(bootTimeNs());
      const now = clock.nowEpochNs();
      expect(stamped).toBeLessThanOrEqual(now);
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
  });
});

requires('bpf').describe('record time ≤ observed time for real BPF records (file and OTLP encoders)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'eco-clock-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every record of 40 short-lived processes, over many batches', async () => {
    const file = path.join(dir, 'out.jsonl');
    const fileExporter = fileExporterFactory.create(
      mergeDefaults(fileExporterFactory.createDefaultConfig(), { path: file }),
      testSettings('exporters.file'),
    );
    await fileExporter.start();
    const encoder = new LogsRequestEncoder({ hostname: 'h', nodeName: '' }, {}, { maxRecords: Infinity, maxBytes: Infinity });
    const otlpRequests: JsonRequest[] = [];
    const tracked = new Set<number>();
    const exited = new Set<number>();
    const consumer: LogsConsumer = {
      async consumeLogs(batch: EventBatch): Promise<void> {
        const mine = batch.filter((i) => tracked.has(batch.tgid(i)));
        if (mine.length === 0) return;
        const writing = fileExporter.consumeLogs(mine);
        encoder.add(mine, 0, mine.length, () => {
          throw new Error('no request should fill up here');
        });
        otlpRequests.push(decodeLogsRequest(encoder.seal().payload));
        for (let i = 0; i < mine.length; i++) if (mine.type(i) === 'exit') exited.add(mine.tgid(i));
        await writing;
      },
    };
    const settings = testSettings('receivers.ebpf/clock');
    const receiver = ebpfReceiverFactory.create(
      mergeDefaults(ebpfReceiverFactory.createDefaultConfig(), { ring_buffer_size: '4MiB', events: ['exec', 'exit'] }),
      settings,
      consumer,
    );
    await receiver.start();
    try {
      for (let k = 0; k < 40; k++) {
        const child = spawn('sh', ['-c', 'exit 0'], { stdio: 'ignore' });
        tracked.add(child.pid!);
        await new Promise((r) => child.once('exit', r));
      }
      const deadline = Date.now() + 10_000;
      while (exited.size < tracked.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(exited.size).toBe(tracked.size);
    } finally {
      await receiver.shutdown();
      await fileExporter.shutdown();
    }
    const seenAt = BigInt(Date.now() + 1) * MS;

    const fromFile = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .flatMap((l) => records(JSON.parse(l) as JsonRequest));
    const fromOtlp = otlpRequests.flatMap(records);
    for (const [output, recs] of [
      ['file', fromFile],
      ['otlp', fromOtlp],
    ] as const) {
      expect(recs.length).toBeGreaterThanOrEqual(2 * tracked.size);
      const late = recs.filter((r) => BigInt(r.timeUnixNano) > BigInt(r.observedTimeUnixNano));
      expect({ output, late: late.map((r) => [r.eventName, r.timeUnixNano, r.observedTimeUnixNano]) }).toEqual({ output, late: [] });
      for (const r of recs) {
        // Observed while the test ran, a fraction of a second after the kernel stamped it.
        expect(BigInt(r.observedTimeUnixNano) - BigInt(r.timeUnixNano)).toBeLessThan(5_000n * MS);
        expect(BigInt(r.observedTimeUnixNano)).toBeLessThanOrEqual(seenAt);
      }
      // ns precision: millisecond wall-clock reads would all end in six zeros.
      expect(recs.some((r) => BigInt(r.observedTimeUnixNano) % MS !== 0n)).toBe(true);
    }
  });
});
