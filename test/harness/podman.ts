import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildTestImage, TEST_IMAGE } from './image';
import { answersOn, destroyWorkDir, makeWorkDir, run, spawnUntilReady, startedOrStopped, stopDaemon, type Daemon } from './procs';

/** `podman system service` on a private socket, storage and containers.conf (test/harness/README.md). */
export class PodmanHarness {
  readonly dir: string;
  readonly socket: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly globalArgs: string[];
  private daemon: Daemon | undefined;

  private constructor() {
    this.dir = makeWorkDir('podman');
    this.socket = path.join(this.dir, 'podman.sock');
    const d = this.dir;
    for (const sub of ['root', 'runroot', 'tmp', 'net']) mkdirSync(path.join(d, sub), { recursive: true });
    writeFileSync(
      path.join(d, 'containers.conf'),
      `[containers]
netns = "none"
# The default ulimits exceed this machine's hard limits (no CAP_SYS_RESOURCE).
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
# crun refuses cgroup v1/v2 hybrid hierarchies like this machine's.
runtime = "runc"
events_logger = "file"
events_logfile_path = "${d}/events.log"
tmp_dir = "${d}/tmp"

[network]
network_config_dir = "${d}/net"
`,
    );
    this.env = { ...process.env, CONTAINERS_CONF: path.join(d, 'containers.conf') };
    this.globalArgs = ['--root', path.join(d, 'root'), '--runroot', path.join(d, 'runroot')];
  }

  static async start(): Promise<PodmanHarness> {
    const h = new PodmanHarness();
    return startedOrStopped(h, async () => {
      h.daemon = await spawnUntilReady(
        `podman API service on ${h.socket}`,
        'podman',
        [...h.globalArgs, 'system', 'service', '--time=0', `unix://${h.socket}`],
        { logFile: path.join(h.dir, 'podman.log'), env: h.env },
        () => answersOn(h.socket, () => h.podman(['version'])),
      );
    });
  }

  get pid(): number {
    return this.daemon?.pid ?? 0;
  }

  /** The podman CLI as a client of this service. */
  podman(args: string[]): string {
    return run('podman', ['--remote', '--url', `unix://${this.socket}`, ...args], { env: this.env }).trim();
  }

  /** The engine's own answer: `RepoDigests` of an image (Podman computes one for a loaded image too). */
  repoDigestsOf(image: string): string[] {
    return JSON.parse(this.podman(['image', 'inspect', '--format', '{{json .RepoDigests}}', image])) ?? [];
  }

  loadImage(): void {
    this.podman(['load', '-i', buildTestImage().archive]);
  }

  runContainer(name: string, command: string[] = ['/bin/sleep', '100000'], labels: Record<string, string> = {}): string {
    const l = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    return this.podman(['run', '-d', '--name', name, ...l, TEST_IMAGE, ...command]);
  }

  pidOf(id: string): number {
    return Number(this.podman(['inspect', '--format', '{{.State.Pid}}', id]));
  }

  removeContainer(id: string): void {
    this.podman(['rm', '-f', '-t', '0', id]);
  }

  async stop(): Promise<void> {
    if (this.daemon) {
      try {
        this.podman(['rm', '-a', '-f', '-t', '0']);
      } catch {
        /* killed by pid below */
      }
      await stopDaemon(this.daemon, 'SIGTERM', 5_000);
      this.daemon = undefined;
    }
    destroyWorkDir(this.dir);
  }
}
