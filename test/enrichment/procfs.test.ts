import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { cgroupIdOf, cgroupPathIn, detectContainerHierarchy } from '../../src/host/cgroups';
import { createProcFs } from '../../src/processors/container-enrichment/procfs';
import { capturingLogger, type LogLine } from './fakes';
import { requires } from '../harness/requires';

describe('procfs (real /proc)', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
  });

  requires('root', 'unshare').test(
    "a process in its own mount namespace: its inode, its cgroup (and that cgroup's id); gone processes are undefined",
    async () => {
      const child = spawn('unshare', ['-m', 'sleep', '30'], { stdio: 'ignore' });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      const proc = createProcFs('/proc', capturingLogger());
      // unshare execs sleep in the same pid once the namespace exists.
      let ns: number | undefined;
      const own = statSync('/proc/self/ns/mnt').ino;
      for (let tries = 0; tries < 200 && (ns === undefined || ns === own); tries++) {
        ns = proc.mntns(child.pid!);
        if (ns === own) await new Promise((r) => setTimeout(r, 5));
      }
      expect(ns).toBe(statSync(`/proc/${child.pid}/ns/mnt`).ino);
      expect(ns).not.toBe(own);
      const text = proc.cgroup(child.pid!);
      expect(text).toMatch(/^\d+:[^:]*:\//m);
      // As the processor resolves a cgroup no record announced: its path in the container hierarchy, then its id.
      const hierarchy = detectContainerHierarchy();
      const cgroupPath = cgroupPathIn(text!, hierarchy.hierarchyId);
      expect(cgroupPath).toMatch(/^\//);
      if (hierarchy.mountPath)
        expect(cgroupIdOf(hierarchy.mountPath, cgroupPath!)).toBe(statSync(path.join(hierarchy.mountPath, cgroupPath!)).ino);
      process.kill(child.pid!, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, 20));
      expect(proc.mntns(child.pid!)).toBeUndefined();
      expect(proc.cgroup(child.pid!)).toBeUndefined();
    },
  );

  test('a wrong host_proc fails with what to set', () => {
    const proc = createProcFs('/nonexistent/proc', capturingLogger());
    expect(() => proc.hostMntns()).toThrow(/^\/nonexistent\/proc: cannot read mount namespaces .*point host_proc at the host's procfs/);
    expect(proc.mntns(1)).toBeUndefined();
  });

  test("the host's namespace: PID 1's, or this agent's own with a warning when PID 1 cannot be read", () => {
    const logs: LogLine[] = [];
    const proc = createProcFs('/proc', capturingLogger(logs));
    const host = proc.hostMntns();
    let pid1: number | undefined;
    try {
      pid1 = statSync('/proc/1/ns/mnt').ino;
    } catch {
      pid1 = undefined;
    }
    if (pid1 !== undefined) {
      expect(host).toBe(pid1);
      expect(logs).toHaveLength(0);
    } else {
      expect(host).toBe(statSync('/proc/self/ns/mnt').ino);
      expect(logs[0].msg).toMatch(/cannot stat \/proc\/1\/ns\/mnt .*taking this agent's mount namespace/);
    }
  });
});
