import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { hostMountNamespace } from '../../host/namespaces';
import type { Logger } from '../../pipeline/logger';

/** What the processor reads from the host's procfs; injected so tests can use a fake. */
export interface ProcFs {
  /** Mount namespace inode of `pid`; undefined when the process is gone or unreadable. */
  mntns(pid: number): number | undefined;
  /** Contents of `/proc/<pid>/cgroup`; undefined when the process is gone. */
  cgroup(pid: number): string | undefined;
  /** The host's own mount namespace: processes in it outside container cgroups are the host. */
  hostMntns(): number;
}

/**
 * procfs reads are served from kernel memory and never block on a disk, so the
 * synchronous calls are cheap; they only run for cgroups no record announced.
 */
export function createProcFs(hostProc: string, logger: Logger): ProcFs {
  return {
    mntns(pid) {
      try {
        return statSync(path.join(hostProc, String(pid), 'ns', 'mnt')).ino;
      } catch {
        return undefined;
      }
    },
    cgroup(pid) {
      try {
        return readFileSync(path.join(hostProc, String(pid), 'cgroup'), 'utf8');
      } catch {
        return undefined;
      }
    },
    hostMntns: () => hostMountNamespace(hostProc, logger),
  };
}
