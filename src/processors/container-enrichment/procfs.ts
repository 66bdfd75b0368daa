import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { effectiveCapabilities, hasCap } from '../../host/capabilities';
import { hostMountNamespace, type KernelNamespacesSource } from '../../host/namespaces';
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
 * `kernel` answers the host's mount namespace when `<hostProc>/1/ns/mnt` cannot be read
 * (src/host/namespaces.ts).
 */
export function createProcFs(hostProc: string, logger: Logger, kernel?: KernelNamespacesSource): ProcFs {
  let deniedWarned = false;
  return {
    mntns(pid) {
      const file = path.join(hostProc, String(pid), 'ns', 'mnt');
      try {
        return statSync(file).ino;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Refused, not gone: said once. Without CAP_SYS_PTRACE the start-up warning has said so already.
        if ((code === 'EACCES' || code === 'EPERM') && !deniedWarned) {
          deniedWarned = true;
          if (hasCap(effectiveCapabilities(), 'CAP_SYS_PTRACE')) {
            logger.warn(
              `cannot read ${file} (${code}) although CAP_SYS_PTRACE is effective: a security module (AppArmor, SELinux) denies ptrace read access; ` +
                "containers' mount namespaces are learned from their first events only (see CAP_SYS_PTRACE in deploy/kubernetes/README.md)",
            );
          }
        }
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
    hostMntns: () => hostMountNamespace(hostProc, logger, kernel),
  };
}
