import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { buildTestImage, TEST_IMAGE } from './image';
import { answersOn, destroyWorkDir, makeWorkDir, run, runAsync, spawnUntilReady, startedOrStopped, stopDaemon, type Daemon } from './procs';

export interface ContainerdOptions {
  /** Enable the CRI plugin (sandbox image = the test image, no CNI: use host-network pods). */
  cri?: boolean;
  /**
   * The gRPC socket (default: in the work dir), e.g. the well-known /run/containerd/containerd.sock
   * for an agent that must discover it (test/image/); removed again by stop(). Refused when a
   * daemon already answers there.
   */
  socket?: string;
  /**
   * CRI containers' runc uses the systemd cgroup driver (`SystemdCgroup = true`: each container a
   * `<prefix>-<id>.scope` under its pod's slice, made through systemd); needs systemd as PID 1.
   */
  systemdCgroup?: boolean;
}

/** A private containerd (own root, state and sockets in a temp dir) from Debian's package. */
export class ContainerdHarness {
  readonly dir: string;
  readonly socket: string;
  private readonly configFile: string;
  private daemon: Daemon | undefined;

  private constructor(
    readonly cri: boolean,
    socket?: string,
    readonly systemdCgroup = false,
  ) {
    this.dir = makeWorkDir('ctrd');
    this.socket = socket ?? path.join(this.dir, 'containerd.sock');
    this.configFile = path.join(this.dir, 'config.toml');
  }

  static async start(options: ContainerdOptions = {}): Promise<ContainerdHarness> {
    if (options.socket) claimSocket(options.socket);
    const h = new ContainerdHarness(options.cri ?? false, options.socket, options.systemdCgroup ?? false);
    return startedOrStopped(h, async () => {
      h.writeConfig();
      await h.startDaemon();
    });
  }

  get pid(): number {
    return this.daemon?.pid ?? 0;
  }

  private writeConfig(): void {
    const d = this.dir;
    for (const sub of ['root', 'state', 'cni/bin', 'cni/conf', 'opt', 'pods']) mkdirSync(path.join(d, sub), { recursive: true });
    const disabled = [
      'io.containerd.snapshotter.v1.btrfs',
      'io.containerd.snapshotter.v1.zfs',
      'io.containerd.snapshotter.v1.aufs',
      'io.containerd.snapshotter.v1.devmapper',
    ];
    if (!this.cri) disabled.push('io.containerd.grpc.v1.cri');
    const cri = this.cri
      ? `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${TEST_IMAGE}"
  # No CAP_SYS_RESOURCE here: containers may not get a lower oom_score_adj than their parent.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${d}/cni/bin"
    conf_dir = "${d}/cni/conf"
${
  this.systemdCgroup
    ? `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
`
    : ''
}`
      : '';
    writeFileSync(
      this.configFile,
      `version = 2
root = "${d}/root"
state = "${d}/state"
disabled_plugins = ${JSON.stringify(disabled)}

[grpc]
  address = "${this.socket}"

[ttrpc]
  address = "${this.socket}.ttrpc"

[debug]
  address = "${d}/debug.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"
${cri}`,
    );
  }

  private async startDaemon(): Promise<void> {
    this.daemon = await spawnUntilReady(
      `containerd on ${this.socket}`,
      'containerd',
      ['--config', this.configFile],
      { logFile: path.join(this.dir, 'containerd.log') },
      () => answersOn(this.socket, () => this.ctr(['version'])),
    );
  }

  /** SIGKILLs the daemon (its shims and containers keep running, as in a real crash). */
  async kill(): Promise<void> {
    if (this.daemon) await stopDaemon(this.daemon, 'SIGKILL');
    this.daemon = undefined;
  }

  /** Starts the daemon again with the same root and state (after `kill`). */
  async restart(): Promise<void> {
    await this.kill();
    await this.startDaemon();
  }

  /** Runs `ctr` against this daemon. */
  ctr(args: string[], namespace = 'default'): string {
    return run('ctr', ['--address', this.socket, '--namespace', namespace, ...args]);
  }

  /** `ctr` without blocking the event loop (bursts, or a command the test watches while it runs). */
  ctrAsync(args: string[], namespace = 'default'): Promise<string> {
    return runAsync('ctr', ['--address', this.socket, '--namespace', namespace, ...args]);
  }

  /** Imports the busybox test image into `namespace` (`k8s.io` for CRI). */
  importImage(namespace = 'default'): void {
    const image = buildTestImage();
    this.ctr(['images', 'import', '--no-unpack=false', image.archive], namespace);
  }

  /** `ctr run -d` a container of the test image; returns its task's host pid. */
  runContainer(id: string, opts: { namespace?: string; command?: string[]; labels?: Record<string, string> } = {}): number {
    const ns = opts.namespace ?? 'default';
    const labels = Object.entries(opts.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    this.ctr(['run', '-d', '--null-io', '--net-host', ...labels, TEST_IMAGE, id, ...(opts.command ?? ['/bin/sleep', '100000'])], ns);
    return this.taskPid(id, ns);
  }

  /**
   * Starts many containers back to back (as a burst of `ctr run -d`, `parallel` at a time), e.g.
   * for enrichment race tests; resolves with each id's host pid.
   */
  async runContainers(
    ids: string[],
    opts: { namespace?: string; command?: string[]; parallel?: number } = {},
  ): Promise<Map<string, number>> {
    const ns = opts.namespace ?? 'default';
    const queue = [...ids];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        await this.ctrAsync(['run', '-d', '--null-io', '--net-host', TEST_IMAGE, id, ...(opts.command ?? ['/bin/sleep', '100000'])], ns);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? 4) }, worker));
    return new Map(ids.map((id) => [id, this.taskPid(id, ns)]));
  }

  taskPid(id: string, namespace = 'default'): number {
    const line = this.ctr(['tasks', 'ls'], namespace)
      .split('\n')
      .find((l) => l.split(/\s+/)[0] === id);
    return line ? Number(line.split(/\s+/)[1]) : 0;
  }

  /** SIGKILLs a container's task and removes task and container. */
  removeContainer(id: string, namespace = 'default'): void {
    try {
      this.ctr(['tasks', 'kill', '--signal', 'SIGKILL', id], namespace);
    } catch {
      /* not running */
    }
    // `tasks delete` fails until the kill has been reaped; `--force` waits for it.
    try {
      this.ctr(['tasks', 'delete', '--force', id], namespace);
    } catch {
      /* no task */
    }
    this.ctr(['containers', 'delete', id], namespace);
  }

  /**
   * Stops the daemon and everything it started, unmounts and deletes the work dir. Containers
   * are removed through the daemon first so runc's state under /run/containerd/runc is cleaned
   * too; whatever is left (daemon down, a test failed mid-way) is killed by pid.
   */
  async stop(): Promise<void> {
    if (this.daemon) {
      try {
        for (const ns of this.ctr(['namespaces', 'ls', '-q']).split('\n').filter(Boolean)) {
          for (const id of this.ctr(['containers', 'ls', '-q'], ns).split('\n').filter(Boolean)) this.removeContainer(id, ns);
        }
      } catch {
        /* fall through to killing by pid */
      }
    }
    await this.kill();
    if (!this.socket.startsWith(`${this.dir}/`)) for (const f of [this.socket, `${this.socket}.ttrpc`]) rmSync(f, { force: true });
    destroyWorkDir(this.dir);
  }
}

/**
 * A socket path outside the work dir must be free: a daemon answering there is someone else's
 * (refused); a stale socket file is removed.
 */
export function claimSocket(socket: string): void {
  if (!existsSync(socket)) return;
  try {
    run('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(1); s.connect(sys.argv[1])', socket]);
  } catch {
    rmSync(socket, { force: true });
    return;
  }
  throw new Error(`a daemon already answers on ${socket}: the harness will not take its place`);
}
