import { constants } from 'node:os';
import { EVENT_TYPE_NAMES, type EventBatch, type EventTypeName } from '../../events';
import { Attr } from './attributes';

/** OTLP `SeverityNumber` values used here, with their text. */
export const Severity = {
  info: { number: 9, text: 'INFO' },
  warn: { number: 13, text: 'WARN' },
} as const;
export type SeverityLevel = (typeof Severity)[keyof typeof Severity];

/**
 * The LogRecord's `event_name` per kernel event type. Not repeated as an `event.name` attribute:
 * the registry deprecates it for the field (docs/otlp-mapping.md).
 */
export const EVENT_NAMES: Readonly<Record<EventTypeName, string>> = {
  exec: 'process.exec',
  exit: 'process.exit',
  open: 'file.open',
  connect: 'network.connect',
  throttle: 'ebpf_container_otel.throttle',
};

/**
 * The receiving end of the mapping: one implementation per wire format. The
 * mapping calls `begin`, then `body*` once, then attributes, then `end`, so a
 * writer can stream straight into its output without building objects.
 * Raw `utf8*` ranges point into the batch buffer: kernel strings are copied,
 * never decoded, by writers that can.
 */
export interface LogRecordWriter {
  begin(timeUnixNs: bigint, severity: SeverityLevel, type: EventTypeName): void;
  /** Body is `<type> <detail>`, e.g. `open /etc/passwd`; the writer adds the `<type> ` prefix. */
  bodyUtf8(buf: Buffer, start: number, end: number): void;
  bodyText(detail: string): void;
  str(key: number, value: string): void;
  utf8(key: number, buf: Buffer, start: number, end: number): void;
  /** NUL-separated strings (argv) as a string array, one element per string, empty ones included. */
  utf8List(key: number, buf: Buffer, start: number, end: number): void;
  /** Integers up to 2^64 (doubles round beyond 2^53, which only 100+ day durations in ns reach). */
  int(key: number, value: number): void;
  bool(key: number, value: boolean): void;
  end(): void;
}

/** errno → its name in Node's os.constants.errno, e.g. 2 → ENOENT. */
export const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));
const EINPROGRESS = constants.errno.EINPROGRESS;
const SOCK_TRANSPORT: Record<number, string> = { 1: 'tcp', 2: 'udp' };

function errnoName(ret: number): string {
  return ERRNO_NAMES.get(-ret) ?? `errno ${-ret}`;
}

/**
 * The one definition of how a kernel record becomes an OTLP log record
 * (docs/otlp-mapping.md). The file exporter writes it; the OTLP exporter's
 * native encoder (native/addon/otlp_logs.c) mirrors it in C, and
 * test/exporters/otlp-native-encoder.test.ts holds the two to the same output.
 */
export function writeLogRecord(batch: EventBatch, i: number, w: LogRecordWriter): void {
  const type = EVENT_TYPE_NAMES[batch.typeCode(i) - 1];
  const buf = batch.buffer;
  let severity: SeverityLevel = Severity.info;
  if (type === 'open' && batch.openRet(i) < 0) severity = Severity.warn;
  if (type === 'connect') {
    const ret = batch.connectRet(i);
    if (ret < 0 && ret !== -EINPROGRESS) severity = Severity.warn;
  }
  if (type === 'throttle' && batch.throttleStarted(i)) severity = Severity.warn;
  w.begin(batch.timeUnixNs(i), severity, type);

  switch (type) {
    case 'exec': {
      const filenameStart = batch.execFilenameStart(i);
      const filenameEnd = batch.execFilenameEnd(i);
      w.bodyUtf8(buf, filenameStart, filenameEnd);
      w.utf8(Attr.executablePath, buf, filenameStart, filenameEnd);
      // Each argument ends with a NUL (the last may be cut short): drop the last NUL so it ends no empty one.
      const argsStart = batch.execArgsStart(i);
      let argsEnd = batch.execArgsEnd(i);
      if (argsEnd > argsStart && buf[argsEnd - 1] === 0) argsEnd--;
      if (argsEnd > argsStart) w.utf8List(Attr.commandArgs, buf, argsStart, argsEnd);
      if (batch.execArgsTruncated(i)) w.bool(Attr.argsTruncated, true);
      break;
    }
    case 'exit': {
      const code = batch.exitCode(i);
      w.bodyText(String(code));
      w.int(Attr.exitCode, code);
      const signal = batch.exitSignal(i);
      if (signal !== 0) w.int(Attr.exitSignal, signal);
      w.int(Attr.durationNs, Number(batch.exitDurationNs(i)));
      break;
    }
    case 'open': {
      const start = batch.openPathStart(i);
      const end = batch.openPathEnd(i);
      w.bodyUtf8(buf, start, end);
      w.utf8(Attr.filePath, buf, start, end);
      w.int(Attr.openFlags, batch.openFlags(i));
      const ret = batch.openRet(i);
      if (ret < 0) w.str(Attr.errorType, errnoName(ret));
      break;
    }
    case 'connect': {
      const address = batch.connectAddress(i);
      const port = batch.connectPort(i);
      const v6 = batch.connectFamily(i) === 10;
      w.bodyText(v6 ? `[${address}]:${port}` : `${address}:${port}`);
      w.str(Attr.peerAddress, address);
      w.int(Attr.peerPort, port);
      const transport = SOCK_TRANSPORT[batch.connectSockType(i)];
      if (transport !== undefined) w.str(Attr.transport, transport);
      w.str(Attr.networkType, v6 ? 'ipv6' : 'ipv4');
      const ret = batch.connectRet(i);
      if (ret < 0 && ret !== -EINPROGRESS) w.str(Attr.errorType, errnoName(ret));
      break;
    }
    case 'throttle': {
      if (batch.throttleStarted(i)) {
        w.bodyText('start');
        w.str(Attr.throttleState, 'start');
      } else {
        const dropped = batch.throttleDropped(i);
        w.bodyText(`stop ${dropped} dropped`);
        w.str(Attr.throttleState, 'stop');
        w.int(Attr.throttleDropped, dropped);
      }
      break;
    }
  }

  w.int(Attr.pid, batch.tgid(i));
  w.int(Attr.threadId, batch.pid(i));
  w.int(Attr.parentPid, batch.ppid(i));
  w.utf8(Attr.executableName, buf, batch.commStart(i), batch.commEnd(i));
  w.int(Attr.realUserId, batch.uid(i));
  w.int(Attr.realGroupId, batch.gid(i));
  w.int(Attr.mntns, batch.mntns(i));
  w.int(Attr.cgroupId, batch.cgroupId(i));
  w.end();
}
