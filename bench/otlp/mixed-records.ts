import type { RecordSpec } from '../../src/events';

const ARG = 'y'.repeat(120);

/**
 * The OTLP benches' record number `seq`: exec, open, connect and exit in turn, ~280 bytes in the
 * kernel layout, with a long argument and path so the encoder copies real strings.
 */
export function mixedRecord(seq: number): RecordSpec {
  const common = {
    tsBootNs: process.hrtime.bigint(),
    pid: 1000 + (seq % 30000),
    ppid: 1,
    uid: 1000,
    mntns: 1,
    cgroupId: 42,
    comm: 'worker',
  };
  switch (seq % 4) {
    case 0:
      return {
        ...common,
        type: 'exec',
        filename: '/usr/local/bin/worker-process',
        args: ['/usr/local/bin/worker-process', '--id', String(seq), ARG],
      };
    case 1:
      return { ...common, type: 'open', path: `/var/lib/app/data/segment-${seq}.db-${ARG}`, flags: 2, ret: 3 };
    case 2:
      return {
        ...common,
        type: 'connect',
        family: 4,
        address: new Uint8Array([10, 1, (seq >> 8) & 255, seq & 255]),
        port: 5432,
        ret: 0,
        sockType: 1,
      };
    default:
      return { ...common, type: 'exit', exitCode: 0, durationNs: 1_000_000n };
  }
}
