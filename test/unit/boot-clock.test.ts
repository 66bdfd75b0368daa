import { BootClock, EventBatch, encodeRecords } from '../../src/events';
import { OtlpJsonEncoder } from '../../src/exporters/file';

/** A clock source whose readings the test sets. */
function scripted(bootNs: bigint, offsetNs: bigint) {
  const source = { boot: bootNs, offset: offsetNs, bootNowNs: () => source.boot, realtimeMinusBootNs: () => source.offset };
  return source;
}

describe('BootClock', () => {
  test('now and record times are boot time plus the offset read at the last refresh', () => {
    const source = scripted(5_000n, 1_700_000_000_000_000_000n);
    const clock = new BootClock(source);
    expect(clock.bootToEpochNs).toBe(1_700_000_000_000_000_000n);
    expect(clock.toEpochNs(4_000n)).toBe(1_700_000_000_000_004_000n);
    expect(clock.nowEpochNs()).toBe(1_700_000_000_000_005_000n);

    source.boot = 6_000n;
    source.offset += 250n;
    // Until refresh() the old offset holds, for records and now alike.
    expect(clock.nowEpochNs()).toBe(1_700_000_000_000_006_000n);
    clock.refresh();
    expect(clock.toEpochNs(4_000n)).toBe(1_700_000_000_000_004_250n);
    expect(clock.nowEpochNs()).toBe(1_700_000_000_000_006_250n);
  });

  test('the default clock reads now within a few ms of Date.now(), and never goes back', () => {
    const clock = new BootClock();
    const before = BigInt(Date.now()) * 1_000_000n;
    const now = clock.nowEpochNs();
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    expect(now).toBeGreaterThanOrEqual(before - 2_000_000n);
    expect(now).toBeLessThanOrEqual(after + 2_000_000n);
    let last = now;
    for (let i = 0; i < 10_000; i++) {
      const next = clock.nowEpochNs();
      expect(next).toBeGreaterThanOrEqual(last);
      last = next;
    }
  });

  test('records stamped from the clock are never observed before their own time', () => {
    const clock = new BootClock();
    const encoder = new OtlpJsonEncoder({ hostname: 'h', nodeName: '' }, {});
    for (let round = 0; round < 200; round++) {
      const specs = Array.from({ length: 5 }, (_v, k) => ({
        type: 'exit' as const,
        tsBootNs: clock.bootNowNs(),
        pid: 100 + k,
        mntns: 1,
        comm: 'c',
        exitCode: 0,
      }));
      const { batch } = EventBatch.parse(encodeRecords(specs), clock);
      const request = JSON.parse(encoder.encode(batch)) as {
        resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ timeUnixNano: string; observedTimeUnixNano: string }> }> }>;
      };
      const records = request.resourceLogs[0].scopeLogs[0].logRecords;
      expect(records).toHaveLength(5);
      for (const [i, rec] of records.entries()) {
        expect(rec.timeUnixNano).toBe(String(batch.timeUnixNs(i)));
        expect(BigInt(rec.timeUnixNano)).toBeLessThanOrEqual(BigInt(rec.observedTimeUnixNano));
      }
      if (round % 50 === 0) clock.refresh();
    }
  });
});
