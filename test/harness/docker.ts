import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { ContainerdHarness, claimSocket } from './containerd';
import { buildTestImage, TEST_IMAGE } from './image';
import { answersOn, destroyWorkDir, makeWorkDir, run, spawnUntilReady, startedOrStopped, stopDaemon, type Daemon } from './procs';

/**
 * A private dockerd (own data-root, exec-root, pidfile and socket; no bridge, no iptables) on
 * top of a harness containerd: its containers live in that containerd's `moby` namespace.
 */
export class DockerHarness {
  readonly dir: string;
  readonly socket: string;
  private daemon: Daemon | undefined;

  private constructor(
    readonly containerd: ContainerdHarness,
    private readonly ownsContainerd: boolean,
    socket?: string,
  ) {
    this.dir = makeWorkDir('dockerd');
    this.socket = socket ?? path.join(this.dir, 'docker.sock');
  }

  /**
   * Starts dockerd; on `containerd` when given, else on a containerd of its own. `socket`: where
   * it listens (default: in the work dir), e.g. the well-known /run/docker.sock; removed by stop().
   */
  static async start(options: { containerd?: ContainerdHarness; socket?: string } = {}): Promise<DockerHarness> {
    if (options.socket) claimSocket(options.socket);
    const containerd = options.containerd ?? (await ContainerdHarness.start());
    const h = new DockerHarness(containerd, !options.containerd, options.socket);
    return startedOrStopped(h, async () => {
      writeFileSync(path.join(h.dir, 'daemon.json'), '{}\n');
      await h.startDaemon();
    });
  }

  get pid(): number {
    return this.daemon?.pid ?? 0;
  }

  private async startDaemon(): Promise<void> {
    const d = this.dir;
    for (const sub of ['data', 'exec']) mkdirSync(path.join(d, sub), { recursive: true });
    this.daemon = await spawnUntilReady(
      `dockerd on ${this.socket}`,
      'dockerd',
      [
        '--config-file',
        path.join(d, 'daemon.json'),
        '--data-root',
        path.join(d, 'data'),
        '--exec-root',
        path.join(d, 'exec'),
        '--pidfile',
        path.join(d, 'docker.pid'),
        '-H',
        `unix://${this.socket}`,
        '--containerd',
        this.containerd.socket,
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        '--ip6tables=false',
        // Containers outlive a dockerd restart, as on production hosts.
        '--live-restore',
        // Lowering our own oom_score_adj needs CAP_SYS_RESOURCE, which this machine lacks.
        '--oom-score-adjust=0',
        '--log-level=warn',
      ],
      { logFile: path.join(d, 'dockerd.log') },
      () => answersOn(this.socket, () => this.docker(['version', '--format', '{{.Server.Version}}'])),
      60_000,
      200,
    );
  }

  docker(args: string[]): string {
    return run('docker', ['-H', `unix://${this.socket}`, ...args]).trim();
  }

  loadImage(): void {
    this.docker(['load', '-i', buildTestImage().archive]);
  }

  /** The engine's own answer: `RepoDigests` of an image (Docker gives none for an image only loaded). */
  repoDigestsOf(image: string): string[] {
    return JSON.parse(this.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', image])) ?? [];
  }

  /** `docker run -d` of the test image without networking; returns the full id. */
  runContainer(name: string, command: string[] = ['/bin/sleep', '100000'], labels: Record<string, string> = {}): string {
    const l = Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    return this.docker(['run', '-d', '--network', 'none', '--name', name, ...l, TEST_IMAGE, ...command]);
  }

  pidOf(id: string): number {
    return Number(this.docker(['inspect', '--format', '{{.State.Pid}}', id]));
  }

  /** SIGKILLs and removes a container (busybox sleep as pid 1 ignores SIGTERM). */
  removeContainer(id: string): void {
    this.docker(['rm', '-f', id]);
  }

  async kill(): Promise<void> {
    if (this.daemon) await stopDaemon(this.daemon, 'SIGKILL');
    this.daemon = undefined;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.startDaemon();
  }

  async stop(): Promise<void> {
    if (this.daemon) {
      try {
        const ids = this.docker(['ps', '-aq']).split('\n').filter(Boolean);
        if (ids.length) this.docker(['rm', '-f', ...ids]);
      } catch {
        /* killed by pid below */
      }
      await stopDaemon(this.daemon, 'SIGTERM', 10_000);
      this.daemon = undefined;
    }
    if (this.ownsContainerd) await this.containerd.stop();
    if (!this.socket.startsWith(`${this.dir}/`)) rmSync(this.socket, { force: true });
    destroyWorkDir(this.dir);
  }
}
