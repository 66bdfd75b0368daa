import { CgroupRecord, Connect, EVENT_VERSION, Exec, Exit, Header, Open, RECORD_ALIGNMENT, RecordType, Throttle } from './record';

/** Fields shared by every record; what the BPF programs fill from the current task. */
export interface RecordCommon {
  tsBootNs: bigint;
  pid: number;
  tgid?: number;
  ppid?: number;
  uid?: number;
  gid?: number;
  mntns: number;
  cgroupId?: number;
  comm: string;
}

export type RecordSpec =
  | (RecordCommon & { type: 'exec'; filename: string; args: string[]; argsTruncated?: boolean })
  | (RecordCommon & { type: 'exit'; exitCode: number; exitSignal?: number; durationNs?: bigint })
  | (RecordCommon & { type: 'open'; path: string; flags?: number; mode?: number; ret: number })
  | (RecordCommon & { type: 'connect'; family: 4 | 6; address: Uint8Array; port: number; ret: number; sockType?: number })
  | (RecordCommon & { type: 'throttle'; started: boolean; dropped?: number })
  /** cgroupId: the cgroup made or removed; path from the hierarchy's root. */
  | (RecordCommon & { type: 'cgroup_mkdir' | 'cgroup_rmdir'; path: string; hierarchyId?: number });

/**
 * Writes records in the kernel's layout. The test source, the decoder's tests
 * and the benchmarks use it to produce batches exactly as the addon delivers them.
 */
export function encodeRecords(specs: readonly RecordSpec[]): Buffer {
  const parts = specs.map(encodeRecord);
  return Buffer.concat(parts);
}

export function encodeRecord(spec: RecordSpec): Buffer {
  const payload = payloadOf(spec);
  const size = align(Header.length + payload.length);
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(size, Header.size);
  buf.writeUInt16LE(RecordType[spec.type], Header.type);
  buf.writeUInt16LE(EVENT_VERSION, Header.version);
  buf.writeBigUInt64LE(spec.tsBootNs, Header.tsBootNs);
  buf.writeUInt32LE(spec.pid, Header.pid);
  buf.writeUInt32LE(spec.tgid ?? spec.pid, Header.tgid);
  buf.writeUInt32LE(spec.ppid ?? 0, Header.ppid);
  buf.writeUInt32LE(spec.uid ?? 0, Header.uid);
  buf.writeUInt32LE(spec.gid ?? 0, Header.gid);
  writeU64(buf, Header.mntns, spec.mntns);
  writeU64(buf, Header.cgroupId, spec.cgroupId ?? 0);
  buf.write(spec.comm.slice(0, Header.commLength - 1), Header.comm, 'utf8');
  payload.copy(buf, Header.length);
  return buf;
}

function payloadOf(spec: RecordSpec): Buffer {
  const base = Header.length;
  switch (spec.type) {
    case 'exec': {
      const filename = Buffer.from(spec.filename);
      const args = Buffer.from(spec.args.map((a) => `${a}\0`).join(''));
      const p = Buffer.alloc(Exec.data - base + filename.length + args.length);
      p.writeUInt16LE(filename.length, Exec.filenameLength - base);
      p.writeUInt16LE(args.length, Exec.argsLength - base);
      p.writeUInt16LE(spec.argsTruncated ? Exec.argsTruncatedFlag : 0, Exec.flags - base);
      filename.copy(p, Exec.data - base);
      args.copy(p, Exec.data - base + filename.length);
      return p;
    }
    case 'exit': {
      const p = Buffer.alloc(Exit.length - base);
      p.writeInt32LE(spec.exitCode, Exit.exitCode - base);
      p.writeUInt32LE(spec.exitSignal ?? 0, Exit.exitSignal - base);
      p.writeBigUInt64LE(spec.durationNs ?? 0n, Exit.durationNs - base);
      return p;
    }
    case 'open': {
      const path = Buffer.from(spec.path);
      const p = Buffer.alloc(Open.path - base + path.length);
      p.writeInt32LE(spec.ret, Open.ret - base);
      p.writeUInt32LE(spec.flags ?? 0, Open.flags - base);
      p.writeUInt32LE(spec.mode ?? 0, Open.mode - base);
      p.writeUInt16LE(path.length, Open.pathLength - base);
      path.copy(p, Open.path - base);
      return p;
    }
    case 'connect': {
      const p = Buffer.alloc(Connect.length - base);
      p.writeInt32LE(spec.ret, Connect.ret - base);
      p.writeUInt16LE(spec.family === 4 ? 2 : 10, Connect.family - base);
      p.writeUInt16LE(spec.port, Connect.port - base);
      Buffer.from(spec.address).copy(p, Connect.addr - base);
      p.writeUInt16LE(spec.sockType ?? 1, Connect.sockType - base);
      return p;
    }
    case 'throttle': {
      const p = Buffer.alloc(Throttle.length - base);
      p.writeUInt32LE(spec.started ? Throttle.start : Throttle.stop, Throttle.state - base);
      p.writeBigUInt64LE(BigInt(spec.dropped ?? 0), Throttle.dropped - base);
      return p;
    }
    case 'cgroup_mkdir':
    case 'cgroup_rmdir': {
      const path = Buffer.from(spec.path);
      const p = Buffer.alloc(CgroupRecord.path - base + path.length);
      p.writeUInt32LE(spec.hierarchyId ?? 0, CgroupRecord.hierarchyId - base);
      p.writeUInt16LE(path.length, CgroupRecord.pathLength - base);
      path.copy(p, CgroupRecord.path - base);
      return p;
    }
  }
}

function align(n: number): number {
  return Math.ceil(n / RECORD_ALIGNMENT) * RECORD_ALIGNMENT;
}

function writeU64(buf: Buffer, at: number, value: number): void {
  buf.writeBigUInt64LE(BigInt(value), at);
}
