import { BootClock, EventBatch, encodeRecords } from '../../src/events';
import type { RecordSpec } from '../../src/events';
import { Header, Open } from '../../src/events/record';

/** Small seeded PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const clock = new BootClock();

function randomSpec(r: () => number, i: number): RecordSpec {
  const common = { tsBootNs: BigInt(i) * 1000n, pid: 100 + i, mntns: 4026531840 + (i % 5), comm: `proc${i % 7}` };
  switch (Math.floor(r() * 4)) {
    case 0:
      return { ...common, type: 'exec', filename: `/bin/p${i}`, args: Array.from({ length: Math.floor(r() * 4) }, (_, k) => `a${k}`) };
    case 1:
      return { ...common, type: 'exit', exitCode: i % 256 };
    case 2:
      return { ...common, type: 'open', path: `/tmp/f${'x'.repeat(Math.floor(r() * 40))}`, ret: i % 3 === 0 ? -2 : 3 };
    default:
      return { ...common, type: 'connect', family: 4, address: Uint8Array.of(127, 0, 0, 1), port: 1000 + i, ret: 0 };
  }
}

/** Every accessor of every kept record: none may throw or read outside the buffer. */
function readAll(batch: EventBatch): void {
  for (let i = 0; i < batch.length; i++) {
    batch.typeCode(i);
    batch.timeUnixNs(i);
    batch.pid(i);
    batch.tgid(i);
    batch.ppid(i);
    batch.mntns(i);
    batch.cgroupId(i);
    batch.comm(i);
    switch (batch.type(i)) {
      case 'exec':
        batch.execFilename(i);
        batch.execArgs(i);
        break;
      case 'exit':
        batch.exitCode(i);
        batch.exitDurationNs(i);
        break;
      case 'open':
        batch.openPath(i);
        batch.openRet(i);
        break;
      case 'connect':
        batch.connectAddress(i);
        batch.connectPort(i);
        break;
    }
  }
}

/**
 * Where the record size fields lead from offset 0: the record starts, and how
 * many pieces the buffer falls into (records, an untrustworthy size that ends
 * the walk, a tail too short for a header).
 */
function sizeChain(buf: Buffer): { starts: Set<number>; steps: number } {
  const starts = new Set<number>();
  let at = 0;
  while (at + Header.length <= buf.length) {
    const size = buf.readUInt32LE(at + Header.size);
    starts.add(at);
    if (size < Header.length || at + size > buf.length) return { starts, steps: starts.size };
    at += size;
  }
  return { starts, steps: starts.size + (at < buf.length ? 1 : 0) };
}

describe('EventBatch.parse under random and truncated input', () => {
  it('parses random bytes without throwing', () => {
    const r = rng(1);
    for (let round = 0; round < 2000; round++) {
      const buf = Buffer.alloc(Math.floor(r() * 600));
      for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(r() * 256);
      // Plausible sizes now and then, so parsing gets past the first record.
      if (buf.length >= 8 && r() < 0.5) buf.writeUInt32LE(Header.length + 8 * Math.floor(r() * 8), 0);
      const { batch, malformed } = EventBatch.parse(buf, clock);
      readAll(batch);
      // Every place the size chain leads to is either a kept record or counted malformed.
      const chain = sizeChain(buf);
      expect(batch.length + malformed).toBe(chain.steps);
      for (let i = 0; i < batch.length; i++) {
        expect(chain.starts.has(batch.offsets[i])).toBe(true);
        expect(batch.offsets[i] + batch.recordSize(i)).toBeLessThanOrEqual(buf.length);
      }
    }
  });

  it('counts every record of a truncated batch: whole ones kept, the cut one malformed', () => {
    const r = rng(2);
    for (let round = 0; round < 300; round++) {
      const specs = Array.from({ length: 1 + Math.floor(r() * 20) }, (_, i) => randomSpec(r, i));
      const full = encodeRecords(specs);
      const ends: number[] = [];
      for (let at = 0; at < full.length; at += full.readUInt32LE(at)) ends.push(at + full.readUInt32LE(at));
      const cut = Math.floor(r() * (full.length + 1));
      const { batch, malformed } = EventBatch.parse(full.subarray(0, cut), clock);
      const whole = ends.filter((e) => e <= cut).length;
      expect(batch.length).toBe(whole);
      expect(malformed).toBe(ends.includes(cut) || cut === 0 ? 0 : 1);
      readAll(batch);
      for (let i = 0; i < batch.length; i++) expect(batch.pid(i)).toBe(specs[i].pid);
    }
  });

  it('skips and counts records of unknown type or version, or with a payload longer than the record', () => {
    const specs: RecordSpec[] = [0, 1, 2, 3, 4].map((i) => ({
      type: 'open',
      tsBootNs: 1n,
      pid: i,
      mntns: 1,
      comm: 'x',
      path: '/p',
      ret: 0,
    }));
    const buf = encodeRecords(specs);
    const size = buf.readUInt32LE(0);
    buf.writeUInt16LE(99, 1 * size + Header.type); // unknown type
    buf.writeUInt16LE(7, 2 * size + Header.version); // unknown version
    buf.writeUInt16LE(60000, 3 * size + Open.pathLength); // path runs past the record
    const { batch, malformed } = EventBatch.parse(buf, clock);
    expect(malformed).toBe(3);
    expect([...Array(batch.length).keys()].map((i) => batch.pid(i))).toEqual([0, 4]);
  });

  it('stops at a record whose size cannot be trusted, counting it', () => {
    const specs: RecordSpec[] = [0, 1, 2].map((i) => ({ type: 'exit', tsBootNs: 1n, pid: i, mntns: 1, comm: 'x', exitCode: 0 }));
    const buf = encodeRecords(specs);
    buf.writeUInt32LE(8, buf.readUInt32LE(0)); // second record claims 8 bytes
    const { batch, malformed } = EventBatch.parse(buf, clock);
    expect(batch.length).toBe(1);
    expect(malformed).toBe(1);
  });

  it('decodes invalid UTF-8 in strings as replacement characters', () => {
    const buf = encodeRecords([{ type: 'open', tsBootNs: 1n, pid: 1, mntns: 1, comm: 'x', path: '/ab', ret: 0 }]);
    buf[Open.path + 1] = 0xff;
    buf[Header.comm] = 0xc3; // a lead byte without its continuation
    const { batch } = EventBatch.parse(buf, clock);
    expect(batch.openPath(0)).toBe('/\ufffdb');
    expect(batch.comm(0)).toBe('\ufffd');
  });
});
