import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../pipeline/logger';

/** What the processor reads from the host's procfs; injected so tests can use a fake. */
export interface ProcFs {
  /** Mount namespace inode of `pid`; undefined when the process is gone or unreadable. */
  mntns(pid: number): number | undefined;
  /** Contents of `/proc/<pid>/cgroup`; undefined when the process is gone. */
  cgroup(pid: number): string | undefined;
  /** The host's own mount namespace: events from it are host events. */
  hostMntns(): number;
  /** When `pid` started, in ms of CLOCK_BOOTTIME (10 ms steps); undefined when gone. */
  startBootMs(pid: number): number | undefined;
}

/** USER_HZ: /proc reports process start times in these ticks (100 on every Linux ABI in use). */
const CLOCK_TICKS_PER_SEC = 100;

/**
 * procfs reads are served from kernel memory and never block on a disk, so the
 * synchronous calls are cheap; they only run for unknown mount namespaces.
 */
export function createProcFs(hostProc: string, logger: Logger): ProcFs {
  const nsInode = (pid: number | 'self'): number => statSync(path.join(hostProc, String(pid), 'ns', 'mnt')).ino;
  return {
    mntns(pid) {
      try {
        return nsInode(pid);
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
    startBootMs(pid) {
      let stat: string;
      try {
        stat = readFileSync(path.join(hostProc, String(pid), 'stat'), 'utf8');
      } catch {
        return undefined;
      }
      // Fields after the parenthesised comm (which may hold spaces); starttime is field 22.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[22 - 3]);
      return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SEC : undefined;
    },
    hostMntns() {
      try {
        return nsInode(1);
      } catch (err) {
        // PID 1 may belong to another user namespace (EACCES even for root); the
        // agent itself then is the best witness of the host's mount namespace.
        let own: number;
        try {
          own = nsInode('self');
        } catch (selfErr) {
          throw new Error(
            `host_proc ${hostProc}: cannot read mount namespaces (${(selfErr as Error).message}); ` +
              "set processors.container_enrichment.host_proc to the host's procfs (e.g. /host/proc, mounted from the host's /proc)",
          );
        }
        logger.warn(
          `cannot stat ${path.join(hostProc, '1/ns/mnt')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
            `taking this agent's mount namespace ${own} as the host's (run the agent in the host mount namespace, or set host_proc to the host's procfs)`,
        );
        return own;
      }
    },
  };
}
