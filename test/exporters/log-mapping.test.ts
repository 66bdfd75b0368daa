/**
 * The log mapping itself (src/exporters/log-mapping, docs/otlp-mapping.md): kernel records made
 * with the events encoder, each event type and its variants, and the complete LogRecord both
 * writers make of them (the file exporter's OTLP-JSON and the OTLP exporter's native protobuf).
 * The exporters' tests check requests and resources; this holds every field of every record.
 */
import { EventBatch, type EventTypeName, encodeRecord, type RecordSpec } from '../../src/events';
import { OtlpJsonEncoder } from '../../src/exporters/file';
import { type LogRecordWriter, type SeverityLevel, ATTRIBUTE_KEYS, writeLogRecord } from '../../src/exporters/log-mapping';
import { LogsRequestEncoder } from '../../src/exporters/otlp-logs';
import { decodeLogsRequest } from '../harness/otlp-sink';
import { flatRecords, HOST, type JsonLogRecord, type JsonRequest, stoppedClock } from './fixtures';

/** Boot was at this Unix time: a record `ts` ns after boot is at BOOT_EPOCH_NS + ts. */
const BOOT_EPOCH_NS = 1_700_000_000_000_000_000n;
const BOOT_NOW_NS = 100_000_000_000n;
const NOW_EPOCH_NS = BOOT_EPOCH_NS + BOOT_NOW_NS;
const MNTNS = 4026532001;

/** A record's bytes with each `[marker, bytes]` written over the marker's first occurrence (bytes the encoder's strings cannot hold). */
function record(spec: RecordSpec, patches: Array<[string, number[]]> = []): Buffer {
  const buf = encodeRecord(spec);
  for (const [marker, bytes] of patches) {
    const at = buf.indexOf(marker, 0, 'latin1');
    if (at < 0 || marker.length !== bytes.length) throw new Error(`no ${JSON.stringify(marker)} to patch`);
    buf.set(bytes, at);
  }
  return buf;
}

const common = (ts: bigint) => ({ tsBootNs: ts, pid: 101, tgid: 100, ppid: 1, uid: 1000, gid: 1001, mntns: MNTNS, cgroupId: 77 });

const RECORDS: Array<{ what: string; bytes: Buffer }> = [
  {
    // comm and filename carry invalid UTF-8 (0xff; a lead byte 0xc3 before an ASCII byte); argv has an
    // empty argument, a multi-byte one, and the kernel cut the last one short mid-character: no final NUL.
    what: 'exec: invalid UTF-8 in its names, argv cut short',
    bytes: record(
      {
        ...common(1_000n),
        type: 'exec',
        comm: 'cu~l',
        filename: '/usr/bin/~-tool',
        args: ['curl', '', 'http://x/ä', 'abc'],
        argsTruncated: true,
      },
      [
        ['cu~l', [0x63, 0x75, 0xff, 0x6c]],
        ['/~-', [0x2f, 0xc3, 0x2d]],
        ['abc\0', [0x61, 0x62, 0x63, 0xc3]],
      ],
    ),
  },
  { what: 'exec: no argv', bytes: record({ ...common(2_000n), type: 'exec', comm: 'init', filename: '/sbin/init', args: [] }) },
  { what: 'exit: a clean one', bytes: record({ ...common(3_000n), type: 'exit', comm: 'sh', exitCode: 0, durationNs: 1_500_000n }) },
  {
    what: 'exit: killed by a signal',
    bytes: record({ ...common(4_000n), type: 'exit', comm: 'sleep', exitCode: 137, exitSignal: 9, durationNs: 2_500_000_000n }),
  },
  { what: 'open: succeeded', bytes: record({ ...common(5_000n), type: 'open', comm: 'cat', path: '/etc/passwd', flags: 0o102, ret: 3 }) },
  {
    what: 'open: refused, invalid UTF-8 in the path',
    bytes: record({ ...common(6_000n), type: 'open', comm: 'cat', path: '/tmp/~x', ret: -13 }, [['/~x', [0x2f, 0xff, 0x78]]]),
  },
  {
    what: 'connect: IPv4 TCP, non-blocking (EINPROGRESS is no error)',
    bytes: record({
      ...common(7_000n),
      type: 'connect',
      comm: 'wget',
      family: 4,
      address: new Uint8Array([10, 0, 0, 7]),
      port: 443,
      ret: -115,
    }),
  },
  {
    what: 'connect: IPv6 UDP, refused',
    bytes: record({
      ...common(8_000n),
      type: 'connect',
      comm: 'dig',
      family: 6,
      address: new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
      port: 53,
      ret: -111,
      sockType: 2,
    }),
  },
  {
    what: 'connect: a socket type of no transport, an errno of no name',
    bytes: record({
      ...common(9_000n),
      type: 'connect',
      comm: 'x',
      family: 4,
      address: new Uint8Array([127, 0, 0, 1]),
      port: 9,
      ret: -4000,
      sockType: 5,
    }),
  },
  { what: 'throttle: started', bytes: record({ ...common(10_000n), type: 'throttle', comm: 'yes', started: true }) },
  {
    what: 'throttle: stopped, with what it dropped',
    bytes: record({ ...common(11_000n), type: 'throttle', comm: 'yes', started: false, dropped: 42 }),
  },
];

type Value = string | number | boolean | string[];
const anyValue = (v: Value) =>
  typeof v === 'string'
    ? { stringValue: v }
    : typeof v === 'number'
      ? { intValue: String(v) }
      : typeof v === 'boolean'
        ? { boolValue: v }
        : { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };

/** The LogRecord in its protobuf-JSON form; `attributes` in the order they are written. */
function logRecord(ts: bigint, severity: 'INFO' | 'WARN', event: string, body: string, attributes: Array<[string, Value]>): JsonLogRecord {
  return {
    timeUnixNano: String(BOOT_EPOCH_NS + ts),
    observedTimeUnixNano: String(NOW_EPOCH_NS),
    severityNumber: severity === 'INFO' ? 9 : 13,
    severityText: severity,
    eventName: event,
    body: { stringValue: body },
    attributes: attributes.map(([key, v]) => ({ key, value: anyValue(v) })),
  };
}

/** What every record ends with: the task that made it. */
const task = (comm: string): Array<[string, Value]> => [
  ['process.pid', 100],
  ['thread.id', 101],
  ['process.parent_pid', 1],
  ['process.executable.name', comm],
  ['process.real_user.id', 1000],
  ['process.real_group.id', 1001],
  ['linux.mnt_ns.id', MNTNS],
  ['linux.cgroup.id', 77],
];

// Invalid UTF-8 becomes U+FFFD in both writers: a protobuf string must be valid UTF-8.
const EXPECTED: JsonLogRecord[] = [
  logRecord(1_000n, 'INFO', 'process.exec', 'exec /usr/bin/\ufffd-tool', [
    ['process.executable.path', '/usr/bin/\ufffd-tool'],
    ['process.command_args', ['curl', '', 'http://x/ä', 'abc\ufffd']],
    ['linux.process.args_truncated', true],
    ...task('cu\ufffdl'),
  ]),
  logRecord(2_000n, 'INFO', 'process.exec', 'exec /sbin/init', [['process.executable.path', '/sbin/init'], ...task('init')]),
  logRecord(3_000n, 'INFO', 'process.exit', 'exit 0', [['process.exit.code', 0], ['linux.process.duration_ns', 1_500_000], ...task('sh')]),
  logRecord(4_000n, 'INFO', 'process.exit', 'exit 137', [
    ['process.exit.code', 137],
    ['linux.process.exit_signal', 9],
    ['linux.process.duration_ns', 2_500_000_000],
    ...task('sleep'),
  ]),
  logRecord(5_000n, 'INFO', 'file.open', 'open /etc/passwd', [['file.path', '/etc/passwd'], ['linux.open.flags', 0o102], ...task('cat')]),
  logRecord(6_000n, 'WARN', 'file.open', 'open /tmp/\ufffdx', [
    ['file.path', '/tmp/\ufffdx'],
    ['linux.open.flags', 0],
    ['error.type', 'EACCES'],
    ...task('cat'),
  ]),
  logRecord(7_000n, 'INFO', 'network.connect', 'connect 10.0.0.7:443', [
    ['network.peer.address', '10.0.0.7'],
    ['network.peer.port', 443],
    ['network.transport', 'tcp'],
    ['network.type', 'ipv4'],
    ...task('wget'),
  ]),
  logRecord(8_000n, 'WARN', 'network.connect', 'connect [fd00::1]:53', [
    ['network.peer.address', 'fd00::1'],
    ['network.peer.port', 53],
    ['network.transport', 'udp'],
    ['network.type', 'ipv6'],
    ['error.type', 'ECONNREFUSED'],
    ...task('dig'),
  ]),
  logRecord(9_000n, 'WARN', 'network.connect', 'connect 127.0.0.1:9', [
    ['network.peer.address', '127.0.0.1'],
    ['network.peer.port', 9],
    ['network.type', 'ipv4'],
    ['error.type', 'errno 4000'],
    ...task('x'),
  ]),
  logRecord(10_000n, 'WARN', 'ebpf_container_otel.throttle', 'throttle start', [
    ['ebpf_container_otel.throttle.state', 'start'],
    ...task('yes'),
  ]),
  logRecord(11_000n, 'INFO', 'ebpf_container_otel.throttle', 'throttle stop 42 dropped', [
    ['ebpf_container_otel.throttle.state', 'stop'],
    ['ebpf_container_otel.throttle.dropped', 42],
    ...task('yes'),
  ]),
];

function batchOf(records: Buffer[]): EventBatch {
  const { batch, malformed } = EventBatch.parse(Buffer.concat(records), stoppedClock(NOW_EPOCH_NS, BOOT_NOW_NS));
  expect(malformed).toBe(0);
  batch.containers = records.map(() => null);
  return batch;
}

const viaJson = (batch: EventBatch) => flatRecords(JSON.parse(new OtlpJsonEncoder(HOST, {}).encode(batch)) as JsonRequest);

function viaProtobuf(batch: EventBatch) {
  const encoder = new LogsRequestEncoder(HOST, {}, { maxRecords: Infinity, maxBytes: Infinity });
  encoder.add(batch, 0, batch.length, () => {
    throw new Error('sealed a request early');
  });
  return flatRecords(decodeLogsRequest(encoder.seal().payload));
}

describe.each([
  ['OTLP-JSON (file exporter)', viaJson],
  ['protobuf (OTLP exporter, native encoder)', viaProtobuf],
])('log mapping, written as %s', (_writer, encode) => {
  test.each(RECORDS.map((r, k) => [r.what, k] as const))('%s', (_what, k) => {
    expect(encode(batchOf([RECORDS[k].bytes])).map((f) => f.record)).toStrictEqual([EXPECTED[k]]);
  });

  test('all of them in one batch, in their order', () => {
    expect(encode(batchOf(RECORDS.map((r) => r.bytes))).map((f) => f.record)).toStrictEqual(EXPECTED);
  });
});

/** Each call the mapping makes, utf8 ranges as the raw bytes they point at. */
class RecordingWriter implements LogRecordWriter {
  calls: unknown[][] = [];
  begin(timeUnixNs: bigint, severity: SeverityLevel, type: EventTypeName): void {
    this.calls.push(['begin', timeUnixNs, severity.text, type]);
  }
  bodyUtf8(buf: Buffer, start: number, end: number): void {
    this.calls.push(['bodyUtf8', Buffer.from(buf.subarray(start, end))]);
  }
  bodyText(detail: string): void {
    this.calls.push(['bodyText', detail]);
  }
  str(key: number, value: string): void {
    this.calls.push(['str', ATTRIBUTE_KEYS[key], value]);
  }
  utf8(key: number, buf: Buffer, start: number, end: number): void {
    this.calls.push(['utf8', ATTRIBUTE_KEYS[key], Buffer.from(buf.subarray(start, end))]);
  }
  utf8List(key: number, buf: Buffer, start: number, end: number): void {
    this.calls.push(['utf8List', ATTRIBUTE_KEYS[key], Buffer.from(buf.subarray(start, end))]);
  }
  int(key: number, value: number): void {
    this.calls.push(['int', ATTRIBUTE_KEYS[key], value]);
  }
  bool(key: number, value: boolean): void {
    this.calls.push(['bool', ATTRIBUTE_KEYS[key], value]);
  }
  end(): void {
    this.calls.push(['end']);
  }
}

test("the mapping hands writers the kernel's own bytes: names copied, never decoded; argv without its last NUL", () => {
  const w = new RecordingWriter();
  writeLogRecord(batchOf([RECORDS[0].bytes]), 0, w);
  const bytes = (...parts: Array<string | number[]>) =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  expect(w.calls).toStrictEqual([
    ['begin', BOOT_EPOCH_NS + 1_000n, 'INFO', 'exec'],
    ['bodyUtf8', bytes('/usr/bin/', [0xc3], '-tool')],
    ['utf8', 'process.executable.path', bytes('/usr/bin/', [0xc3], '-tool')],
    ['utf8List', 'process.command_args', bytes('curl\0\0http://x/ä\0abc', [0xc3])],
    ['bool', 'linux.process.args_truncated', true],
    ['int', 'process.pid', 100],
    ['int', 'thread.id', 101],
    ['int', 'process.parent_pid', 1],
    ['utf8', 'process.executable.name', bytes('cu', [0xff], 'l')],
    ['int', 'process.real_user.id', 1000],
    ['int', 'process.real_group.id', 1001],
    ['int', 'linux.mnt_ns.id', MNTNS],
    ['int', 'linux.cgroup.id', 77],
    ['end'],
  ]);
});
