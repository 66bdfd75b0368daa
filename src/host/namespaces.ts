import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../pipeline/logger';

/**
 * The host's mount namespace inode: PID 1's in `hostProc`. PID 1 may belong
 * to another user namespace (EACCES even for root); this agent is then the
 * best witness, said so once.
 */
export function hostMountNamespace(hostProc: string, logger: Logger): number {
  const inode = (pid: number | 'self'): number => statSync(path.join(hostProc, String(pid), 'ns', 'mnt')).ino;
  try {
    return inode(1);
  } catch (err) {
    let own: number;
    try {
      own = inode('self');
    } catch (selfErr) {
      throw new Error(
        `${hostProc}: cannot read mount namespaces (${(selfErr as Error).message}); ` +
          "point host_proc at the host's procfs (e.g. /host/proc, mounted from the host's /proc)",
      );
    }
    logger.warn(
      `cannot stat ${path.join(hostProc, '1/ns/mnt')} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
        `taking this agent's mount namespace ${own} as the host's (run the agent in the host mount namespace, or set host_proc to the host's procfs)`,
    );
    return own;
  }
}
