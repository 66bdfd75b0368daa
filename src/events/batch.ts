import type { BootClock } from './clock';
import type { ContainerInfo } from './container';
import {
  CgroupRecord,
  Connect,
  EVENT_VERSION,
  type EventTypeName,
  Exec,
  Exit,
  Header,
  MIN_RECORD_LENGTH,
  Open,
  RECORD_TYPES,
  RecordType,
  Throttle,
  eventTypeName,
} from './record';

export type RecordContainers = Array<ContainerInfo | null | undefined>;

/** A cgroup of the container hierarchy was made or removed (native/bpf/cgroup.bpf.c). */
export interface CgroupChange {
  kind: 'mkdir' | 'rmdir';
  cgroupId: number;
  hierarchyId: number;
  /** From the hierarchy's root, e.g. /docker/<id>. */
  path: string;
  tsBootNs: bigint;
}

export interface ParseResult {
  batch: EventBatch;
  /** Records skipped because they were truncated, of an unknown type or version. */
  malformed: number;
}

const TWO_POW_32 = 4294967296;
/**
 * The least length of an event record by its type code; NO_RECORD for codes that are not one (0,
 * the cgroup records parsed apart). parse runs per record: a string-keyed lookup there cost more
 * than the rest of the walk (a megamorphic load, `perf` on the agent at 200 k records/s).
 */
const NO_RECORD = 0xffffffff;
const MIN_LENGTH_BY_CODE = Uint32Array.from({ length: Math.max(...RECORD_TYPES.map((t) => t.code)) + 1 }, (_, code) => {
  const name = eventTypeName(code);
  return name === undefined ? NO_RECORD : MIN_RECORD_LENGTH[name];
});

/**
 * A view over one Buffer of many kernel records, and the only reader of their
 * layout (src/events/record.ts): everything downstream asks it for record i's
 * fields. Header fields are read with fixed offsets; strings are decoded only
 * when asked for, or handed out as byte ranges of `buffer` to writers that
 * copy them undecoded. No accessor allocates but the string ones.
 */
export class EventBatch {
  private readonly view: DataView;
  /**
   * Filled by the enrichment processor, index-aligned with records: the
   * record's container; null for the host's own mount namespace; undefined
   * for a namespace that is no container the processor could identify.
   * Absent (no enrichment in the pipeline): nothing is known either way.
   */
  containers: RecordContainers | undefined;
  /** Cgroups made or removed before this batch's records were drained; for the enrichment processor. */
  cgroupChanges: CgroupChange[] = [];

  constructor(
    readonly buffer: Buffer,
    /** Where each record starts in `buffer`: with `buffer`, what the native encoder reads (it has events.h itself). */
    readonly offsets: Uint32Array,
    readonly clock: BootClock,
  ) {
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  get length(): number {
    return this.offsets.length;
  }

  /** Walks the records of `buffer`, keeping well-formed ones and counting the rest. */
  static parse(buffer: Buffer, clock: BootClock): ParseResult {
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const offsets = new Uint32Array(Math.max(1, Math.floor(buffer.byteLength / Header.length)));
    const changes: CgroupChange[] = [];
    let count = 0;
    let malformed = 0;
    let at = 0;
    const done = () => {
      const batch = new EventBatch(buffer, offsets.subarray(0, count), clock);
      batch.cgroupChanges = changes;
      return { batch, malformed };
    };
    while (at + Header.length <= buffer.byteLength) {
      const size = view.getUint32(at + Header.size, true);
      if (size < Header.length || at + size > buffer.byteLength) {
        // The size itself cannot be trusted: nothing after it can be located.
        malformed++;
        return done();
      }
      const type = view.getUint16(at + Header.type, true);
      const version = view.getUint16(at + Header.version, true);
      if (version !== EVENT_VERSION) {
        malformed++;
      } else if (type === CgroupRecord.mkdir || type === CgroupRecord.rmdir) {
        const change = cgroupChange(buffer, view, at, size);
        if (change) changes.push(change);
        else malformed++;
      } else if (type >= MIN_LENGTH_BY_CODE.length || size < MIN_LENGTH_BY_CODE[type] || !payloadFits(view, at, size, type)) {
        malformed++;
      } else {
        offsets[count++] = at;
      }
      at += size;
    }
    if (at < buffer.byteLength) malformed++;
    return done();
  }

  /**
   * A batch as the addon's drain hands it over (native BatchCallback): the
   * cgroup records it starts with (`cgroupBytes`) parsed here; the offsets of
   * its `events` event records read from the end of `backing`, where the drain
   * wrote them after checking each record as `parse` does, so no record is
   * walked here. Anything but cgroup records in the cgroup part is malformed.
   */
  static fromDrain(buffer: Buffer, backing: Buffer, cgroupBytes: number, events: number, clock: BootClock): ParseResult {
    let changes: CgroupChange[] = [];
    let malformed = 0;
    if (cgroupBytes > 0) {
      const cgroups = EventBatch.parse(buffer.subarray(0, cgroupBytes), clock);
      changes = cgroups.batch.cgroupChanges;
      malformed = cgroups.malformed + cgroups.batch.length;
    }
    const offsets = new Uint32Array(backing.buffer, backing.byteOffset + backing.byteLength - 4 * events, events);
    const batch = new EventBatch(buffer, offsets, clock);
    batch.cgroupChanges = changes;
    return { batch, malformed };
  }

  /** A batch of the records whose index `keep` returns true for; shares the buffer. */
  filter(keep: (index: number) => boolean): EventBatch {
    const kept = new Uint32Array(this.length);
    const containers: RecordContainers | undefined = this.containers ? [] : undefined;
    let n = 0;
    for (let i = 0; i < this.length; i++) {
      if (!keep(i)) continue;
      kept[n++] = this.offsets[i];
      containers?.push(this.containers![i]);
    }
    const out = new EventBatch(this.buffer, kept.subarray(0, n), this.clock);
    out.containers = containers;
    return out;
  }

  type(i: number): EventTypeName {
    return eventTypeName(this.view.getUint16(this.offsets[i] + Header.type, true))!;
  }
  typeCode(i: number): number {
    return this.view.getUint16(this.offsets[i] + Header.type, true);
  }
  recordSize(i: number): number {
    return this.view.getUint32(this.offsets[i] + Header.size, true);
  }
  /** The record's own bytes (a view of `buffer`), to keep it past the batch. */
  recordBytes(i: number): Buffer {
    const at = this.offsets[i];
    return this.buffer.subarray(at, at + this.recordSize(i));
  }
  tsBootNs(i: number): bigint {
    return this.view.getBigUint64(this.offsets[i] + Header.tsBootNs, true);
  }
  timeUnixNs(i: number): bigint {
    return this.clock.toEpochNs(this.tsBootNs(i));
  }
  pid(i: number): number {
    return this.u32(i, Header.pid);
  }
  tgid(i: number): number {
    return this.u32(i, Header.tgid);
  }
  ppid(i: number): number {
    return this.u32(i, Header.ppid);
  }
  uid(i: number): number {
    return this.u32(i, Header.uid);
  }
  gid(i: number): number {
    return this.u32(i, Header.gid);
  }
  /** Namespace inode numbers are 32-bit in the kernel (proc_inum), so a number is exact. */
  mntns(i: number): number {
    return this.u64AsNumber(i, Header.mntns);
  }
  cgroupId(i: number): number {
    return this.u64AsNumber(i, Header.cgroupId);
  }
  comm(i: number): string {
    return this.buffer.toString('utf8', this.commStart(i), this.commEnd(i));
  }
  /** `comm` as bytes of `buffer`: [commStart, commEnd). */
  commStart(i: number): number {
    return this.offsets[i] + Header.comm;
  }
  /** Where the NUL-terminated `comm` ends. */
  commEnd(i: number): number {
    const start = this.offsets[i] + Header.comm;
    const limit = start + Header.commLength;
    let end = start;
    while (end < limit && this.buffer[end] !== 0) end++;
    return end;
  }

  execFilename(i: number): string {
    return this.buffer.toString('utf8', this.execFilenameStart(i), this.execFilenameEnd(i));
  }
  /** argv as decoded strings; the BPF side caps the bytes copied. */
  execArgs(i: number): string[] {
    const start = this.execArgsStart(i);
    const end = this.execArgsEnd(i);
    if (end === start) return [];
    const args = this.buffer.toString('utf8', start, end).split('\0');
    if (args[args.length - 1] === '') args.pop();
    return args;
  }
  /** The filename as bytes of `buffer`: [execFilenameStart, execFilenameEnd). */
  execFilenameStart(i: number): number {
    return this.offsets[i] + Exec.data;
  }
  execFilenameEnd(i: number): number {
    return this.offsets[i] + Exec.data + this.u16(i, Exec.filenameLength);
  }
  /** argv as bytes of `buffer`, each argument NUL-terminated (the last one may be cut short): [execArgsStart, execArgsEnd). */
  execArgsStart(i: number): number {
    return this.execFilenameEnd(i);
  }
  execArgsEnd(i: number): number {
    return this.execFilenameEnd(i) + this.u16(i, Exec.argsLength);
  }
  execArgsTruncated(i: number): boolean {
    return (this.u16(i, Exec.flags) & Exec.argsTruncatedFlag) !== 0;
  }

  exitCode(i: number): number {
    return this.view.getInt32(this.offsets[i] + Exit.exitCode, true);
  }
  exitSignal(i: number): number {
    return this.u32(i, Exit.exitSignal);
  }
  exitDurationNs(i: number): bigint {
    return this.view.getBigUint64(this.offsets[i] + Exit.durationNs, true);
  }

  openRet(i: number): number {
    return this.view.getInt32(this.offsets[i] + Open.ret, true);
  }
  openFlags(i: number): number {
    return this.u32(i, Open.flags);
  }
  openPath(i: number): string {
    return this.buffer.toString('utf8', this.openPathStart(i), this.openPathEnd(i));
  }
  /** The path as bytes of `buffer`: [openPathStart, openPathEnd). */
  openPathStart(i: number): number {
    return this.offsets[i] + Open.path;
  }
  openPathEnd(i: number): number {
    return this.offsets[i] + Open.path + this.u16(i, Open.pathLength);
  }

  /** Throttle records: the rate limit started (else stopped) dropping the container's records. */
  throttleStarted(i: number): boolean {
    return this.u32(i, Throttle.state) === Throttle.start;
  }
  /** Records dropped between the start and this stop. */
  throttleDropped(i: number): number {
    return this.u64AsNumber(i, Throttle.dropped);
  }

  connectRet(i: number): number {
    return this.view.getInt32(this.offsets[i] + Connect.ret, true);
  }
  connectFamily(i: number): number {
    return this.u16(i, Connect.family);
  }
  connectPort(i: number): number {
    return this.u16(i, Connect.port);
  }
  connectSockType(i: number): number {
    return this.u16(i, Connect.sockType);
  }
  /** Dotted IPv4 or RFC 5952 IPv6 text. */
  connectAddress(i: number): string {
    const at = this.offsets[i] + Connect.addr;
    const b = this.buffer;
    if (this.connectFamily(i) === 2) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
    return formatIPv6(b.subarray(at, at + 16));
  }

  private u16(i: number, field: number): number {
    return this.view.getUint16(this.offsets[i] + field, true);
  }
  private u32(i: number, field: number): number {
    return this.view.getUint32(this.offsets[i] + field, true);
  }
  private u64AsNumber(i: number, field: number): number {
    const at = this.offsets[i] + field;
    return this.view.getUint32(at, true) + this.view.getUint32(at + 4, true) * TWO_POW_32;
  }
}

function cgroupChange(buffer: Buffer, view: DataView, at: number, size: number): CgroupChange | undefined {
  if (size < CgroupRecord.path) return undefined;
  const pathLength = view.getUint16(at + CgroupRecord.pathLength, true);
  if (CgroupRecord.path + pathLength > size) return undefined;
  return {
    kind: view.getUint16(at + Header.type, true) === CgroupRecord.mkdir ? 'mkdir' : 'rmdir',
    cgroupId: view.getUint32(at + Header.cgroupId, true) + view.getUint32(at + Header.cgroupId + 4, true) * TWO_POW_32,
    hierarchyId: view.getUint32(at + CgroupRecord.hierarchyId, true),
    path: buffer.toString('utf8', at + CgroupRecord.path, at + CgroupRecord.path + pathLength),
    tsBootNs: view.getBigUint64(at + Header.tsBootNs, true),
  };
}

/** Variable-length payloads must lie inside the record that carries them. */
function payloadFits(view: DataView, at: number, size: number, type: number): boolean {
  switch (type) {
    case RecordType.exec:
      return Exec.data + view.getUint16(at + Exec.filenameLength, true) + view.getUint16(at + Exec.argsLength, true) <= size;
    case RecordType.open:
      return Open.path + view.getUint16(at + Open.pathLength, true) <= size;
    default:
      return true;
  }
}

export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let g = 0; g < 8; g++) groups.push((bytes[2 * g] << 8) | bytes[2 * g + 1]);
  // IPv4-mapped (::ffff:a.b.c.d) keeps its dotted tail, as inet_ntop prints it.
  if (groups.slice(0, 5).every((x) => x === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let g = 0; g < 8;) {
    if (groups[g] !== 0) {
      g++;
      continue;
    }
    let end = g;
    while (end < 8 && groups[end] === 0) end++;
    if (end - g > bestLen && end - g > 1) {
      bestStart = g;
      bestLen = end - g;
    }
    g = end;
  }
  const hex = groups.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
