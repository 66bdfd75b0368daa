/**
 * The OTLP exporter's LogRecords come from native/addon/otlp_logs.c; the
 * file exporter's from the TypeScript mapping (src/exporters/log-mapping).
 * These tests hold the two to the same message on random records — every
 * event type, odd numbers, errno values, IPv6 forms, and bytes that are not
 * UTF-8 — decoding our protobuf with the official OTLP definitions.
 */
import { type ContainerInfo, EventBatch, type RecordSpec, encodeRecord } from '../../src/events';
import { Exec, Header, Open } from '../../src/events/record';
import { OtlpJsonEncoder } from '../../src/exporters/file';
import { type EncodedRequest, LogsRequestEncoder } from '../../src/exporters/otlp-logs';
import { decodeLogsRequest } from '../harness/otlp-sink';
import { DOCKER_CONTAINER, HOST, POD_CONTAINER, type JsonRequest, stoppedClock } from './fixtures';

/** xorshift32: reproducible random records; the seed is in the test name. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

const ERRNOS = [0, -1, -2, -13, -22, -110, -111, -115, -4095, -5000, -2147483648];

function randomRecords(seed: number, count: number): Buffer[] {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const u32 = () => int(4294967296);
  const safe = () => int(2 ** 21) * 2 ** 32 + u32();
  /** Mostly ASCII; sometimes any byte at all (invalid UTF-8, NULs, truncated sequences). */
  const bytes = (max: number): Buffer => {
    const b = Buffer.alloc(int(max + 1));
    const wild = r() < 0.4;
    for (let k = 0; k < b.length; k++)
      b[k] = wild ? pick([0x00, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, u32() & 0xff, 0x61]) : 0x20 + int(95);
    if (wild && r() < 0.3) Buffer.from('ä€𝄞').copy(b, 0, 0, Math.min(b.length, 9));
    return b;
  };
  const records: Buffer[] = [];
  for (let n = 0; n < count; n++) {
    const common = {
      tsBootNs: BigInt(u32()) * 1000n,
      pid: u32(),
      tgid: u32(),
      ppid: u32(),
      uid: pick([0, 1000, 65534, u32()]),
      mntns: safe(),
      cgroupId: safe(),
      comm: '',
    };
    let spec: RecordSpec;
    let filename: Buffer | undefined;
    let args: Buffer | undefined;
    let path: Buffer | undefined;
    switch (int(5)) {
      case 0:
        filename = bytes(64);
        args = bytes(200);
        if (r() < 0.3) args = Buffer.concat([args, Buffer.from([0])]);
        spec = { ...common, type: 'exec', filename: 'x'.repeat(filename.length), args: [], argsTruncated: r() < 0.3 };
        break;
      case 1:
        spec = {
          ...common,
          type: 'exit',
          exitCode: pick([0, 1, 255, -1, u32() | 0]),
          exitSignal: pick([0, 0, 9, 15, u32()]),
          durationNs: BigInt(safe()),
        };
        break;
      case 2:
        path = bytes(255);
        spec = { ...common, type: 'open', path: 'x'.repeat(path.length), flags: u32(), ret: pick([3, 17, ...ERRNOS]) };
        break;
      case 3:
        spec = { ...common, type: 'throttle', started: r() < 0.5, dropped: safe() };
        break;
      default: {
        const family = r() < 0.5 ? 4 : 6;
        const address = new Uint8Array(16).map(() => (r() < 0.5 ? 0 : u32() & 0xff));
        if (family === 6 && r() < 0.2) address.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 0);
        spec = { ...common, type: 'connect', family, address, port: int(65536), ret: pick(ERRNOS), sockType: int(4) };
      }
    }
    const rec = encodeRecord(spec);
    // Raw bytes where the kernel gives raw bytes: comm, filename, argv and path.
    const comm = bytes(16);
    rec.fill(0, Header.comm, Header.comm + Header.commLength);
    comm.copy(rec, Header.comm);
    if (filename && args) {
      const withArgs = Buffer.alloc(align8(Exec.data + filename.length + args.length));
      rec.copy(withArgs, 0, 0, Exec.data);
      filename.copy(withArgs, Exec.data);
      args.copy(withArgs, Exec.data + filename.length);
      withArgs.writeUInt32LE(withArgs.length, Header.size);
      withArgs.writeUInt16LE(args.length, Exec.argsLength);
      records.push(withArgs);
      continue;
    }
    if (path) path.copy(rec, Open.path);
    records.push(rec);
  }
  return records;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

const CONTAINERS: Array<ContainerInfo | null> = [POD_CONTAINER, DOCKER_CONTAINER, null];

function randomBatch(seed: number, count: number): EventBatch {
  const { batch, malformed } = EventBatch.parse(Buffer.concat(randomRecords(seed, count)), stoppedClock());
  expect(malformed).toBe(0);
  const r = rng(seed + 1);
  batch.containers = Array.from({ length: batch.length }, () => CONTAINERS[Math.floor(r() * CONTAINERS.length)]);
  return batch;
}

describe('native OTLP LogRecord encoder', () => {
  test.each([1, 2, 3, 4, 5, 6, 7, 8])('same message as the TypeScript mapping (OTLP-JSON), random records, seed %i', (seed) => {
    const batch = randomBatch(seed, 400);
    const encoder = new LogsRequestEncoder(HOST, {}, { maxRecords: Infinity, maxBytes: Infinity });
    encoder.add(batch, 0, batch.length, () => {
      throw new Error('no request should fill up here');
    });
    const fromProto = decodeLogsRequest(encoder.seal().payload);
    const fromJson = JSON.parse(new OtlpJsonEncoder(HOST, {}).encode(batch)) as JsonRequest;
    expect(fromProto).toEqual(fromJson);
  });

  test('requests are cut at the record and byte limits; every record lands exactly once, in order per container', () => {
    const batch = randomBatch(42, 3000);
    const requests: EncodedRequest[] = [];
    const limits = { maxRecords: 700, maxBytes: 96 * 1024 };
    const encoder = new LogsRequestEncoder(HOST, {}, limits);
    // Several calls, as batches arrive, with an odd split.
    encoder.add(batch, 0, 1234, (r) => requests.push(r));
    encoder.add(batch, 1234, batch.length, (r) => requests.push(r));
    requests.push(encoder.seal());
    expect(requests.length).toBeGreaterThan(3000 / 700);
    const seen: string[] = [];
    for (const request of requests) {
      expect(request.records).toBeLessThanOrEqual(limits.maxRecords);
      expect(request.payload.length).toBeLessThanOrEqual(limits.maxBytes);
      const decoded = decodeLogsRequest(request.payload);
      let n = 0;
      for (const rl of decoded.resourceLogs) {
        expect(rl.scopeLogs[0].logRecords.length).toBeGreaterThan(0);
        for (const rec of rl.scopeLogs[0].logRecords)
          seen.push(rec.timeUnixNano + rec.attributes.find((a) => a.key === 'thread.id')!.value.intValue!);
        n += rl.scopeLogs[0].logRecords.length;
      }
      expect(n).toBe(request.records);
    }
    const expected = Array.from({ length: batch.length }, (_v, i) => String(batch.timeUnixNs(i)) + String(batch.pid(i)));
    expect([...seen].sort()).toEqual([...expected].sort());
  });

  test('a record larger than max_bytes still goes, alone in its request', () => {
    const batch = randomBatch(9, 50);
    const requests: EncodedRequest[] = [];
    const encoder = new LogsRequestEncoder(HOST, {}, { maxRecords: 100, maxBytes: 64 });
    encoder.add(batch, 0, batch.length, (r) => requests.push(r));
    requests.push(encoder.seal());
    expect(requests).toHaveLength(50);
    for (const r of requests) expect(r.records).toBe(1);
  });

  test('records outside the batch are refused with an error, not read', () => {
    const batch = randomBatch(3, 4);
    const bad = new EventBatch(batch.buffer, new Uint32Array([batch.buffer.length - 8]), batch.clock);
    const encoder = new LogsRequestEncoder(HOST, {}, { maxRecords: 10, maxBytes: 1 << 20 });
    expect(() => encoder.add(bad, 0, 1, () => {})).toThrow(/record 0 is outside the batch/);
    const truncated = Buffer.from(batch.buffer.subarray(0, batch.recordSize(0)));
    truncated.writeUInt32LE(truncated.length + 64, Header.size);
    const lying = new EventBatch(truncated, new Uint32Array([0]), batch.clock);
    expect(() => encoder.add(lying, 0, 1, () => {})).toThrow(/record 0 is malformed/);
  });
});
