import { execFile } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import type { ContainerInfo, ContainerState } from '../../../events';
import { RuntimeClientBase, mapLimit, withPidDetails, type ClientContext, type PendingEvent } from './common';

export const DEFAULT_LXC_POLL_MS = 2_000;
const LXC_INFO_TIMEOUT_MS = 5_000;
const CONCURRENCY = 4;

export interface LxcOptions {
  /** Directories holding one directory per container (`lxc.lxcpath`, lxcri's runtime root). */
  lxcpaths: string[];
  pollIntervalMs?: number;
  /** Prefix of the host's root when the agent runs in a container (for the cgroup fallback). */
  hostRoot?: string;
}

const STATE: Record<string, ContainerState> = {
  RUNNING: 'running',
  STARTING: 'running',
  FROZEN: 'paused',
  FREEZING: 'paused',
  THAWED: 'running',
  STOPPED: 'stopped',
  STOPPING: 'stopped',
  ABORTING: 'stopped',
};

/**
 * LXC (and lxcri) system containers: a container is a directory with a `config` under an
 * lxcpath. State and init pid come from `lxc-info`; where that cannot reach the container's
 * monitor (agent in a container, lxcpath seen under another path, lxc tools absent) from its
 * `lxc.payload.<name>` cgroup.
 * LXC has no event API, so changes are found by polling.
 */
export class LxcClient extends RuntimeClientBase {
  readonly runtime = 'lxc' as const;
  readonly endpoint: string;
  private readonly lxcpaths: string[];
  private readonly pollMs: number;
  private readonly hostRoot: string;

  constructor(options: LxcOptions, ctx: ClientContext) {
    super(ctx);
    this.lxcpaths = options.lxcpaths;
    this.endpoint = options.lxcpaths.join(':');
    this.pollMs = options.pollIntervalMs ?? DEFAULT_LXC_POLL_MS;
    this.hostRoot = options.hostRoot ?? '';
  }

  async list(): Promise<ContainerInfo[]> {
    try {
      const found: [string, string][] = [];
      let readable = 0;
      for (const lxcpath of this.lxcpaths) {
        let names: string[];
        try {
          names = await readdir(lxcpath);
          readable++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        for (const name of names) if (await isFile(`${lxcpath}/${name}/config`)) found.push([lxcpath, name]);
      }
      if (readable === 0) throw new Error('no lxcpath exists (check processors.container_enrichment.runtimes.lxc.lxcpath)');
      const out = await mapLimit(found, CONCURRENCY, ([lxcpath, name]) => this.describe1(lxcpath, name));
      this.markHealthy();
      return out;
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  async get(id: string): Promise<ContainerInfo | undefined> {
    try {
      for (const lxcpath of this.lxcpaths) {
        if (await isFile(`${lxcpath}/${id}/config`)) {
          const info = await this.describe1(lxcpath, id);
          this.markHealthy();
          return info;
        }
      }
      return undefined;
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  private async describe1(lxcpath: string, name: string): Promise<ContainerInfo> {
    const config = await readFile(`${lxcpath}/${name}/config`, 'utf8').catch(() => '');
    // lxc-info reaches the container's monitor only under the lxcpath it was started with:
    // seen through a host-root prefix it says STOPPED, so a stopped answer is checked against the cgroup.
    const info = await this.lxcInfo(lxcpath, name);
    const { state, pid } = info && info.state !== 'stopped' ? info : await this.fromCgroup(name);
    // lxc-create records its template in a comment; it is the closest thing LXC has to an image.
    const template = /^# Template used to create this container: (.*)$/m.exec(config)?.[1]?.trim() ?? '';
    return withPidDetails(this.hostProc, {
      id: name,
      name,
      runtime: 'lxc',
      state,
      pid: state === 'running' || state === 'paused' ? pid : 0,
      mntns: 0,
      cgroupPath: '',
      image: { name: template ? template.slice(template.lastIndexOf('/') + 1).replace(/^lxc-/, '') : '', id: '', digest: '' },
      labels: { 'lxc.lxcpath': lxcpath },
      sandbox: false,
      startedAt: '',
    });
  }

  /** `lxc-info -s -p`; undefined when lxc-info cannot answer for this container. */
  private lxcInfo(lxcpath: string, name: string): Promise<{ state: ContainerState; pid: number } | undefined> {
    return new Promise((resolve) => {
      execFile('lxc-info', ['-P', lxcpath, '-n', name, '-s', '-p'], { timeout: LXC_INFO_TIMEOUT_MS }, (err, stdout) => {
        if (err) return resolve(undefined);
        // `State: RUNNING` / `PID: 1234` (the labels stay even with -H).
        const state = STATE[/^State:\s*(\S+)/m.exec(stdout)?.[1] ?? ''];
        resolve(state ? { state, pid: Number(/^PID:\s*(\d+)/m.exec(stdout)?.[1] ?? 0) } : undefined);
      });
    });
  }

  /** The init pid is the one process of `lxc.payload.<name>` whose parent is outside it. */
  private async fromCgroup(name: string): Promise<{ state: ContainerState; pid: number }> {
    const root = `${this.hostRoot}/sys/fs/cgroup`;
    for (const hierarchy of ['', '/unified', '/pids', '/systemd']) {
      let procs: number[];
      try {
        procs = (await readFile(`${root}${hierarchy}/lxc.payload.${name}/cgroup.procs`, 'utf8')).split('\n').filter(Boolean).map(Number);
      } catch {
        continue;
      }
      const members = new Set(procs);
      for (const pid of procs) {
        const ppid = await ppidOf(this.hostProc, pid);
        if (!members.has(ppid)) return { state: 'running', pid };
      }
    }
    return { state: 'stopped', pid: 0 };
  }

  protected streamOnce(emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void> {
    return this.pollForChanges(this.pollMs, emit, established);
  }

  protected async closeTransport(): Promise<void> {}
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function ppidOf(hostProc: string, pid: number): Promise<number> {
  try {
    const text = await readFile(`${hostProc}/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}
