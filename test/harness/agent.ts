import { closeSync, openSync, readFileSync, readSync, fstatSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { StageSnapshot } from '../../src/pipeline/telemetry';
import { CLI, NODE, REPO_ROOT } from './paths';
import { destroyWorkDir, GiveUp, logTail, makeWorkDir, spawnDaemon, stopDaemon, waitFor, type Daemon } from './procs';

/**
 * The whole agent as a separate process: `ebpf-container-otel run --config FILE`. Its stderr (the
 * log) and stdout (OTLP-JSON lines when the file exporter writes to `-`) go to files in a work dir,
 * so a test can read them while it runs and after it died. Started through `spawnDaemon`, so it
 * is SIGKILLed by pid if the test process exits without `stop()`.
 */
export class AgentProcess {
  private readonly daemon: Daemon;
  private stdoutOffset = 0;
  private exitCode: number | null | undefined;

  private constructor(
    readonly dir: string,
    readonly configPath: string | undefined,
    env: NodeJS.ProcessEnv,
  ) {
    this.daemon = spawnDaemon(NODE, [CLI, 'run', ...(configPath === undefined ? [] : ['--config', configPath])], {
      logFile: path.join(dir, 'agent.log'),
      stdoutFile: path.join(dir, 'stdout'),
      env: { ...process.env, ...env },
      cwd: REPO_ROOT,
    });
    void this.daemon.exited.then((code) => (this.exitCode = code));
  }

  /**
   * Starts the agent with `config` (YAML text, written to the work dir), or with no `--config` at
   * all for `null` (what `npm start` runs: the embedded config/default.yaml), and waits until it
   * logs that it runs; fails with its log if it exits first. `env` adds to (or, with undefined
   * values, removes from) this process's environment.
   */
  static async start(config: string | null, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<AgentProcess> {
    const dir = makeWorkDir('agent');
    let configPath: string | undefined;
    if (config !== null) {
      configPath = path.join(dir, 'agent.yaml');
      writeFileSync(configPath, config);
    }
    const agent = new AgentProcess(dir, configPath, opts.env ?? {});
    try {
      await agent.waitForLog('running; Ctrl-C to stop', opts.timeoutMs ?? 30_000);
    } catch (err) {
      // The error carries the log's tail; nothing else of this agent is wanted.
      await agent.destroy();
      throw err;
    }
    return agent;
  }

  get pid(): number {
    return this.daemon.pid;
  }

  /** Everything the agent logged so far. */
  log(): string {
    try {
      return readFileSync(this.daemon.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Waits for `text` in the log; fails at once, with the log's tail, if the agent exits. */
  waitForLog(text: string | RegExp, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      `agent log to show ${String(text)}`,
      () => {
        const log = this.log();
        const hit = typeof text === 'string' ? (log.includes(text) ? text : undefined) : text.exec(log)?.[0];
        if (hit !== undefined) return hit;
        if (this.exitCode !== undefined) throw new GiveUp(`agent exited (code ${this.exitCode}) first:\n${logTail(this.daemon.logFile)}`);
        return undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** Each component's record counts as the agent logs them when it stops (`final [...]`); undefined before. */
  finalTelemetry(): StageSnapshot[] | undefined {
    const final = / final (\[.*\])$/m.exec(this.log());
    return final ? (JSON.parse(final[1]) as StageSnapshot[]) : undefined;
  }

  /** The port the Prometheus exporter bound, from its start-up line (endpoint `host:0` lets the kernel pick it). */
  async metricsPort(): Promise<number> {
    const line = await this.waitForLog(/serving Prometheus metrics on http:\/\/[^:]+:(\d+)\/metrics/);
    return Number(/:(\d+)\/metrics/.exec(line)![1]);
  }

  /**
   * Complete stdout lines written since the last call. Read incrementally: a host-wide trace can
   * write many megabytes while a test looks for its few lines.
   */
  newStdoutLines(): string[] {
    const fd = openSync(path.join(this.dir, 'stdout'), 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.stdoutOffset) return [];
      const chunk = Buffer.alloc(size - this.stdoutOffset);
      const n = readSync(fd, chunk, 0, chunk.length, this.stdoutOffset);
      // Up to the last newline only: a line (or a UTF-8 sequence) still being written is read next time.
      const end = chunk.lastIndexOf(0x0a, n - 1);
      if (end < 0) return [];
      this.stdoutOffset += end + 1;
      return chunk.toString('utf8', 0, end).split('\n');
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Sends `signal` (SIGINT: what Ctrl-C does) and resolves with the exit code (null when it had to
   * be SIGKILLed after `graceMs`). The work dir stays, so the log can still be read.
   */
  async stop(signal: NodeJS.Signals = 'SIGINT', graceMs = 15_000): Promise<number | null> {
    await stopDaemon(this.daemon, signal, graceMs);
    return (await this.daemon.exited) ?? null;
  }

  /** Removes the work dir (logs, stdout, config written by `start`); kills the agent first if it still runs. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL', 0);
    destroyWorkDir(this.dir);
  }
}
