import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';

/**
 * Tests that start host daemons (dockerd, containerd, podman) must not run while another such
 * test does, on this machine or from another engineer's checkout: they take
 * /tmp/daemon-tests.lock. By hand that is `flock /tmp/daemon-tests.lock npx jest …`; under
 * `npm test` (CI) nothing takes it, so a test takes it itself with holdDaemonLock().
 */
export const DAEMON_LOCK = '/tmp/daemon-tests.lock';
/** Set while this process tree holds the lock; scripts/image.sh honours it too. */
export const LOCK_HELD_ENV = 'EBPF_OTEL_DAEMON_LOCK_HELD';

function parentOf(pid: number): number {
  try {
    return Number(
      readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ')[1],
    );
  } catch {
    return 0;
  }
}

/** Pids holding a flock on `file` (/proc/locks). */
function lockHolders(file: string): number[] {
  if (!existsSync(file)) return [];
  const ino = statSync(file).ino;
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === 'FLOCK' && f[5]?.endsWith(`:${ino}`))
    .map((f) => Number(f[4]));
}

/** Whether one of this process's ancestors holds the lock (`flock … npx jest …`). */
export function lockHeldByAncestor(file = DAEMON_LOCK): boolean {
  const holders = new Set(lockHolders(file));
  for (let pid = process.pid; pid > 1; pid = parentOf(pid)) if (holders.has(pid)) return true;
  return false;
}

/**
 * Takes the lock unless this process tree holds it already; resolves with its release. While
 * another holder has it, says so once and waits.
 */
export async function holdDaemonLock(file = DAEMON_LOCK): Promise<() => void> {
  if (process.env[LOCK_HELD_ENV] || lockHeldByAncestor(file)) {
    process.env[LOCK_HELD_ENV] = '1';
    return () => undefined;
  }
  closeSync(openSync(file, 'a'));
  // flock(1) holds the lock for as long as its `cat` reads our stdin: released when we close it, or when we die.
  const holder = spawn('flock', [file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting = setTimeout(() => console.warn(`waiting for ${file}: another engineer's daemon tests are running`), 2000);
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve());
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`flock ${file} exited (${code}) before taking the lock`)));
  }).finally(() => clearTimeout(waiting));
  process.env[LOCK_HELD_ENV] = '1';
  return () => {
    delete process.env[LOCK_HELD_ENV];
    holder.stdin!.end();
  };
}
