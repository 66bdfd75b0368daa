import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LOCK_HELD_ENV } from './lock';
import { REPO_ROOT } from './paths';
import { makeWorkDir, waitFor, GiveUp } from './procs';

/** The agent image as `npm run image -- --save` left it (scripts/image.sh). */
export interface AgentImage {
  /** `ebpf-container-otel:<version>`. */
  ref: string;
  id: string;
  inputs: string;
  size: number;
  /** `docker save` archive, loaded into the test engines. */
  tar: string;
  /** What image.sh said (built or reused, how long). */
  log: string;
}

/**
 * Builds the image, or finds it up to date (an archive of the same inputs is reused in a second
 * or two); before any daemon of a test listens on /var/run/docker.sock, so the build goes to the
 * engine there or to image.sh's own private one with its cache, never to a test's.
 */
export function ensureAgentImage(): AgentImage {
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts/image.sh'), '--save'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: undefined, [LOCK_HELD_ENV]: process.env[LOCK_HELD_ENV] },
    timeout: 30 * 60_000,
    maxBuffer: 256 << 20,
  });
  const out = `${r.stdout}${r.stderr}`;
  const m = /^image (\S+) id (\S+) inputs (\S+) size (\d+) tar (\S+)$/m.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) throw new Error(`scripts/image.sh --save failed (${r.status ?? r.signal}):\n${out.slice(-4000)}`);
  return { ref: m[1], id: m[2], inputs: m[3], size: Number(m[4]), tar: m[5], log: r.stderr };
}

/** A container engine's CLI: the harness's dockerd, or its podman service. */
export interface Engine {
  kind: 'docker' | 'podman';
  bin: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export function dockerEngine(socket: string): Engine {
  return { kind: 'docker', bin: 'docker', args: ['-H', `unix://${socket}`], env: process.env };
}

/** The podman CLI as a client of a PodmanHarness (its socket and containers.conf). */
export function podmanEngine(harness: { socket: string; dir: string }): Engine {
  return {
    kind: 'podman',
    bin: 'podman',
    args: ['--remote', '--url', `unix://${harness.socket}`],
    env: { ...process.env, CONTAINERS_CONF: path.join(harness.dir, 'containers.conf') },
  };
}

export function engineRun(engine: Engine, args: string[], timeoutMs = 120_000): string {
  return execFileSync(engine.bin, [...engine.args, ...args], {
    env: engine.env,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Yaml = any;

/** How the DaemonSet (deploy/kubernetes/base/daemonset.yaml) runs the agent, for a container engine. */
export interface DaemonSetRun {
  /** `run` options: pid namespace, capabilities, security options, read-only root, host mounts. */
  options: string[];
  /** The container's arguments (`run --config /etc/ebpf-container-otel/agent.yaml`). */
  args: string[];
  /** Where the ConfigMap is mounted. */
  configDir: string;
  /** The capabilities the DaemonSet adds. */
  capabilities: string[];
  /** What was left out or changed, and why (logged by the test). */
  notes: string[];
}

/** Propagation of the mount `p` is on (findmnt): `shared`, `private`, `private,slave`, … */
function propagationOf(p: string): string {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'PROPAGATION', '--target', p], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/**
 * Translates the DaemonSet's pod spec into `docker run`/`podman run` options: hostPID →
 * `--pid host`, capabilities (`capabilities` replaces the added set, e.g. SYS_ADMIN for Docker
 * 20.10, which rejects the names BPF and PERFMON), seccomp, read-only root, no-new-privileges,
 * every hostPath volume as `-v host:mount[:ro][,rslave]` (minus `omitHostPaths`), the ConfigMap's
 * mount from `configHostDir` (none without it).
 */
export function daemonSetRun(opts: {
  capabilities?: string[];
  omitHostPaths?: string[];
  configHostDir?: string;
  defaultSeccomp?: boolean;
}): DaemonSetRun {
  const ds: Yaml = parseYaml(readFileSync(path.join(REPO_ROOT, 'deploy/kubernetes/base/daemonset.yaml'), 'utf8'));
  const pod = ds.spec.template.spec;
  const agent = pod.containers.find((c: Yaml) => c.name === 'agent');
  const sc = agent.securityContext;
  const notes: string[] = [];
  const options: string[] = [];
  if (pod.hostPID) options.push('--pid', 'host');
  if (sc.readOnlyRootFilesystem) options.push('--read-only');
  if (sc.allowPrivilegeEscalation === false) options.push('--security-opt', 'no-new-privileges');
  if (sc.privileged) throw new Error('the DaemonSet asks for a privileged container');
  for (const c of sc.capabilities.drop ?? []) options.push('--cap-drop', c);
  const added: string[] = sc.capabilities.add ?? [];
  for (const c of opts.capabilities ?? added) options.push('--cap-add', c);
  if (opts.capabilities) notes.push(`capabilities ${opts.capabilities.join(', ')} instead of the DaemonSet's ${added.join(', ')}`);
  if (sc.seccompProfile?.type === 'Unconfined' && !opts.defaultSeccomp) options.push('--security-opt', 'seccomp=unconfined');
  if (opts.defaultSeccomp) notes.push("the engine's default seccomp profile instead of the DaemonSet's Unconfined");
  const volumes = new Map<string, Yaml>(pod.volumes.map((v: Yaml) => [v.name, v]));
  let configDir = '';
  for (const m of agent.volumeMounts) {
    const v = volumes.get(m.name);
    if (v.configMap) {
      configDir = m.mountPath;
      // No config (doctor needs none): the ConfigMap's mount is left out.
      if (opts.configHostDir) options.push('-v', `${opts.configHostDir}:${m.mountPath}:ro`);
      continue;
    }
    const host: string = v.hostPath.path;
    if (opts.omitHostPaths?.includes(host)) {
      notes.push(`${host} → ${m.mountPath} left out`);
      continue;
    }
    const flags: string[] = [];
    if (m.readOnly) flags.push('ro');
    const propagation = { HostToContainer: 'rslave', Bidirectional: 'rshared' }[m.mountPropagation as string];
    if (propagation) {
      // Docker and Podman refuse rslave/rshared on a private host mount; Kubernetes nodes have shared ones.
      if (propagationOf(host).includes('shared')) flags.push(propagation);
      else notes.push(`${host}: a private mount on this host, mounted without ${m.mountPropagation}`);
    }
    options.push('-v', `${host}:${m.mountPath}${flags.length ? `:${flags.join(',')}` : ''}`);
  }
  return { options, args: agent.args, configDir, capabilities: added, notes };
}

/** `doctor --json` in a container run with `run`'s options (no network): its lines by check. */
export function doctorInContainer(
  engine: Engine,
  image: string,
  run: DaemonSetRun,
): Map<string, { status: string; detail: string; fix: string }> {
  const r = spawnSync(engine.bin, [...engine.args, 'run', '--rm', '--network', 'none', ...run.options, image, 'doctor', '--json'], {
    env: engine.env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  let lines: Array<{ check: string; status: string; detail: string; fix: string }>;
  try {
    lines = JSON.parse(r.stdout);
  } catch {
    throw new Error(`doctor --json in ${engine.kind} printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return new Map(lines.map((l) => [l.check, l]));
}

/** The agent image running in an engine, as the DaemonSet runs it (test/image/). */
export class AgentContainer {
  private constructor(
    readonly engine: Engine,
    readonly name: string,
    readonly metricsPort: number,
  ) {}

  /**
   * `run -d` of the image with `run.options` (host network: the pod network is not under test),
   * the config `yaml` in the ConfigMap's place; resolves once the agent logs `running`.
   */
  static async start(
    engine: Engine,
    image: string,
    name: string,
    run: (configHostDir: string) => DaemonSetRun,
    yaml: string,
    metricsPort: number,
  ): Promise<AgentContainer> {
    const configHostDir = makeWorkDir('agentcfg');
    writeFileSync(path.join(configHostDir, 'agent.yaml'), yaml);
    const r = run(configHostDir);
    engineRun(engine, [
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'host',
      '-e',
      `NODE_NAME=${os.hostname()}`,
      ...r.options,
      image,
      ...r.args,
    ]);
    const c = new AgentContainer(engine, name, metricsPort);
    await waitFor(
      `${name}: the agent in ${engine.kind} logs "running"`,
      () => {
        if (c.state() !== 'running') throw new GiveUp(`${name} exited (${c.exitCode()}):\n${c.log()}`);
        return / info {2}running;/.test(c.log());
      },
      60_000,
      200,
    );
    return c;
  }

  private logs(): { stdout: string; stderr: string } {
    const r = spawnSync(this.engine.bin, [...this.engine.args, 'logs', this.name], {
      env: this.engine.env,
      encoding: 'utf8',
      maxBuffer: 512 << 20,
    });
    return { stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** The agent's log (stderr). */
  log(): string {
    return this.logs().stderr;
  }

  /** Its stdout: the file exporter's OTLP-JSON lines. */
  stdoutLines(): string[] {
    return this.logs().stdout.split('\n').filter(Boolean);
  }

  state(): string {
    return engineRun(this.engine, ['inspect', '--format', '{{.State.Status}}', this.name]);
  }

  exitCode(): number {
    return Number(engineRun(this.engine, ['inspect', '--format', '{{.State.ExitCode}}', this.name]));
  }

  /** `stop` (SIGTERM, then SIGKILL after `graceSeconds`); resolves with the exit code. */
  stop(graceSeconds = 30): number {
    engineRun(this.engine, ['stop', '-t', String(graceSeconds), this.name], (graceSeconds + 30) * 1000);
    return this.exitCode();
  }

  remove(): void {
    try {
      engineRun(this.engine, ['rm', '-f', this.name]);
    } catch {
      /* gone with its engine */
    }
  }
}
