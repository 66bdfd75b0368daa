import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/**
 * Process and directory bookkeeping for the harness: every daemon is started through
 * `spawnDaemon` and every scratch directory through `makeWorkDir`, so cleanup finds them by pid
 * and by path even when a test throws or the process exits early.
 */

const workDirs = new Set<string>();
const daemons = new Set<number>();

export function makeWorkDir(prefix: string): string {
  // Short base path: unix socket paths are limited to 107 bytes.
  const dir = mkdtempSync(path.join(tmpdir(), `eco-${prefix}-`));
  workDirs.add(dir);
  return dir;
}

export interface Daemon {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `cmd` in its own process group, stderr (and stdout, unless `stdoutFile` is given: for
 * programs whose stdout is data, like the agent's OTLP-JSON lines) appended to `logFile`.
 */
export function spawnDaemon(
  cmd: string,
  args: string[],
  opts: { logFile: string; stdoutFile?: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Daemon {
  const fd = openSync(opts.logFile, 'a');
  const outFd = opts.stdoutFile === undefined ? fd : openSync(opts.stdoutFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', outFd, fd], env: opts.env ?? process.env, cwd: opts.cwd, detached: true });
  closeSync(fd);
  if (outFd !== fd) closeSync(outFd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}: spawn failed (is it installed? run scripts/setup.sh --test)`);
  const pid = child.pid;
  daemons.add(pid);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      daemons.delete(pid);
      resolve(code);
    }),
  );
  child.unref();
  return { pid, child, logFile: opts.logFile, exited };
}

/** Sends `signal`, waits up to `graceMs`, then SIGKILLs. */
export async function stopDaemon(d: Daemon, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!daemons.has(d.pid)) return;
  try {
    process.kill(d.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, graceMs);
  await d.exited;
  clearTimeout(timer);
}

export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Thrown by a `waitFor` check when waiting longer cannot help (the awaited process exited). */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a value (not undefined/false) or `timeoutMs` passes. An error
 * the check throws counts as "not yet" (a socket not up yet), except a `GiveUp`, which ends the wait.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * `spawnDaemon`, then waits until `ready()` holds (a client command that throws counts as "not
 * yet"): fails at once, with the log's tail, when the daemon exits first, and kills it when it
 * never gets ready.
 */
export async function spawnUntilReady(
  what: string,
  cmd: string,
  args: string[],
  opts: Parameters<typeof spawnDaemon>[2],
  ready: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<Daemon> {
  const daemon = spawnDaemon(cmd, args, opts);
  let exited = false;
  void daemon.exited.then(() => (exited = true));
  try {
    await waitFor(
      what,
      () => {
        if (exited) throw new GiveUp(`${what}: exited during start-up:\n${logTail(daemon.logFile)}`);
        return ready();
      },
      timeoutMs,
      everyMs,
    );
  } catch (err) {
    await stopDaemon(daemon, 'SIGKILL');
    throw err;
  }
  return daemon;
}

/** Whether a daemon answers on its unix socket: it exists and `client()` (a CLI call that throws until then) succeeds. */
export function answersOn(socket: string, client: () => unknown): boolean {
  if (!existsSync(socket)) return false;
  client();
  return true;
}

/** Runs a harness's `start`; when it fails half-way, `stop()` removes what it had started before the error goes on. */
export async function startedOrStopped<H extends { stop(): Promise<void> }>(h: H, start: () => Promise<void>): Promise<H> {
  try {
    await start();
  } catch (err) {
    await h.stop();
    throw err;
  }
  return h;
}

function ppidOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/**
 * SIGKILLs every process whose command line mentions `dir` (containerd shims, conmon, LXC
 * monitors started for this harness) together with all their descendants (the containers).
 */
export function killProcessesUnder(dir: string): number[] {
  const pids = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => p !== process.pid);
  const parent = new Map(pids.map((p) => [p, ppidOf(p)]));
  const roots = new Set<number>();
  for (const p of pids) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)) roots.add(p);
    } catch {
      /* gone */
    }
  }
  const doomed = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of parent) {
      if (!doomed.has(p) && doomed.has(pp)) {
        doomed.add(p);
        grew = true;
      }
    }
  }
  for (const p of doomed) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return [...doomed];
}

/** Unmounts (lazily, deepest first) everything mounted under `dir`. */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
}

/** Removes one work dir after killing what runs from it and unmounting what is mounted in it. */
export function destroyWorkDir(dir: string): void {
  killProcessesUnder(dir);
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  workDirs.delete(dir);
}

/** Last-resort cleanup when a test run ends without its afterAll (crash, timeout, Ctrl-C). */
function cleanupAll(): void {
  for (const pid of daemons) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const dir of [...workDirs]) {
    try {
      destroyWorkDir(dir);
    } catch {
      /* best effort at exit */
    }
  }
}
process.once('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

/** Runs a command, returning stdout; the error names the command and carries its stderr. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {},
): string {
  try {
    return execFileSync(cmd, args, {
      env: opts.env ?? process.env,
      input: opts.input,
      timeout: opts.timeoutMs ?? 60_000,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    }).toString();
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

/** `run` without blocking the event loop (for bursts of commands). */
export function runAsync(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.toString().trim() || err.message}`)) : resolve(stdout.toString()),
    );
  });
}

/** Whether a program is on PATH. */
export function hasProgram(name: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => {
    try {
      accessSync(path.join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
