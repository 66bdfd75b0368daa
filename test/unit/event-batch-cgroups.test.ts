import { BootClock, EventBatch, encodeRecord, encodeRecords } from '../../src/events';
import { CgroupRecord } from '../../src/events/record';

const common = { tsBootNs: 5n, pid: 7, mntns: 4026532000, comm: 'runc' };

describe('EventBatch.parse: cgroup records', () => {
  test('go to cgroupChanges, in order, never among the event records', () => {
    const buffer = encodeRecords([
      { ...common, type: 'cgroup_mkdir', cgroupId: 9001, path: '/docker/abc', hierarchyId: 4 },
      { ...common, type: 'exec', cgroupId: 9001, filename: '/bin/sh', args: ['sh'] },
      { ...common, type: 'cgroup_rmdir', cgroupId: 9001, path: '/docker/abc', hierarchyId: 4 },
    ]);
    const { batch, malformed } = EventBatch.parse(buffer, new BootClock());
    expect(malformed).toBe(0);
    expect(batch.length).toBe(1);
    expect(batch.type(0)).toBe('exec');
    expect(batch.cgroupId(0)).toBe(9001);
    expect(batch.cgroupChanges).toEqual([
      { kind: 'mkdir', cgroupId: 9001, hierarchyId: 4, path: '/docker/abc', tsBootNs: 5n },
      { kind: 'rmdir', cgroupId: 9001, hierarchyId: 4, path: '/docker/abc', tsBootNs: 5n },
    ]);
  });

  test('one whose path would run past its record is malformed, and the next record still parses', () => {
    const bad = encodeRecord({ ...common, type: 'cgroup_mkdir', cgroupId: 1, path: '/x' });
    bad.writeUInt16LE(bad.length, CgroupRecord.pathLength);
    const { batch, malformed } = EventBatch.parse(
      Buffer.concat([bad, encodeRecord({ ...common, type: 'exit', cgroupId: 2, exitCode: 0 })]),
      new BootClock(),
    );
    expect(malformed).toBe(1);
    expect(batch.cgroupChanges).toEqual([]);
    expect(batch.length).toBe(1);
    expect(batch.type(0)).toBe('exit');
  });
});
