/**
 * Issue 13's acceptance: the agent image (npm run image), run as the DaemonSet runs it —
 * deploy/kubernetes/base/daemonset.yaml translated into `run` options: host PID namespace, the
 * host's /proc, /run, /sys/fs/cgroup under /host (read-only), bpffs and tracefs, every capability
 * dropped and the set added, read-only root — with a config that only says where the output goes.
 * Docker 20.10 gets SYS_ADMIN + SYS_PTRACE (it rejects the names BPF and PERFMON), Podman the
 * DaemonSet's own BPF + PERFMON + SYS_PTRACE. A containerd and a Docker listen on their
 * well-known sockets, so the agent has to find them under /host/run on its own.
 *
 * Needs root, docker.io, containerd, podman, debootstrap (scripts/setup.sh --test). Takes the
 * daemon-test lock itself (test/harness/lock.ts). The image build is cached by its inputs: a
 * second run reuses the archive (seconds); a first one on a fresh machine takes a few minutes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { ContainerdHarness, DockerHarness, PodmanHarness, freePort, promtoolCheckMetrics, waitFor } from '../harness';
import {
  AgentContainer,
  type AgentImage,
  daemonSetRun,
  doctorInContainer,
  dockerEngine,
  type Engine,
  engineRun,
  ensureAgentImage,
  podmanEngine,
} from '../harness/agent-image';
import { holdDaemonLock } from '../harness/lock';
import { flatRecords, type FlatRecord, type JsonRequest } from '../exporters/fixtures';
import { requires } from '../harness/requires';

const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
const DOCKER_SOCKET = '/run/docker.sock';
/** Docker 20.10 knows no CAP_BPF / CAP_PERFMON: the documented set for older engines. */
const DOCKER_CAPS = ['SYS_ADMIN', 'SYS_PTRACE'];

const image = requires('root', 'docker', 'dockerd', 'containerd', 'ctr', 'podman', 'findmnt');

/** The config the test gives the agent: where the output goes, nothing about the host. */
const outputOnly = (port: number, extra = '') => `
receivers:
  ebpf:
    events: [exec, exit]${extra}
processors:
  container_enrichment: {}
exporters:
  file:
    path: "-"
  prometheus:
    endpoint: 127.0.0.1:${port}
service:
  pipelines:
    logs:
      receivers: [ebpf]
      processors: [container_enrichment]
      exporters: [file, prometheus]
`;

function records(agent: AgentContainer): FlatRecord[] {
  return agent.stdoutLines().flatMap((l) => flatRecords(JSON.parse(l) as JsonRequest));
}

/** The execs of `/bin/sh -c "true <marker>"` (not those of the ctr/docker CLIs, whose arguments hold the marker too). */
const execsOf = (all: FlatRecord[], marker: string) =>
  all.filter(
    (f) =>
      f.record.eventName === 'process.exec' &&
      f.attributes['process.executable.path'] === '/bin/sh' &&
      JSON.stringify(f.attributes['process.command_args']).includes(`true ${marker}`),
  );

const warnLines = (log: string) => log.split('\n').filter((l) => / warn {2}/.test(l));

/** Runs `check`; a failure also shows the records concerned and the agent's log. */
function explained(agent: AgentContainer, concerned: FlatRecord[], check: () => void): void {
  try {
    check();
  } catch (err) {
    (err as Error).message +=
      `\nrecords:\n${concerned.map((f) => JSON.stringify(f && { resource: f.resource, attributes: f.attributes })).join('\n')}\nagent log:\n${agent.log()}`;
    throw err;
  }
}

async function metrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** A sample's value from exposition text; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

image.describe('the agent image, run as the DaemonSet runs it', () => {
  let release: (() => void) | undefined;
  let image: AgentImage;
  let containerd: ContainerdHarness | undefined;
  let docker: DockerHarness | undefined;
  let podman: PodmanHarness | undefined;
  const agents: AgentContainer[] = [];
  const hostMntns = statSync('/proc/self/ns/mnt').ino;
  let ctrId = '';
  let dockerId = '';
  let dockerName = '';
  let marks = 0;

  /** Runs a marked command in the containerd container, the Docker container and on the host; returns the markers. */
  function execEverywhere(): { ctr: string; docker: string; host: string } {
    const m = { ctr: `ctr-mark-${++marks}`, docker: `docker-mark-${marks}`, host: `host-mark-${marks}` };
    containerd!.ctr(['tasks', 'exec', '--exec-id', `x${marks}`, ctrId, '/bin/sh', '-c', `true ${m.ctr}`]);
    execFileSync('docker', ['-H', `unix://${DOCKER_SOCKET}`, 'exec', dockerId, '/bin/sh', '-c', `true ${m.docker}`]);
    execFileSync('/bin/sh', ['-c', `true ${m.host}`]);
    return m;
  }

  beforeAll(async () => {
    release = await holdDaemonLock();
    // Before any daemon listens on /var/run/docker.sock: the build must not go to the test's dockerd.
    image = ensureAgentImage();
    console.log(
      `agent image ${image.ref} ${image.id.slice(0, 19)}: ${(image.size / 1e6).toFixed(0)} MB (inputs ${image.inputs})\n${image.log.trim()}`,
    );
    // As on systemd hosts (scripts/setup.sh does the same): the DaemonSet's HostToContainer bpffs mount propagates from the host.
    execFileSync('mount', ['--make-shared', '/sys/fs/bpf']);
    // containerd's own /run/containerd is 0711-ish; a shim that ran first may have left it 0600 here,
    // which root without CAP_DAC_OVERRIDE (the agent) cannot traverse.
    if (existsSync('/run/containerd') && (statSync('/run/containerd').mode & 0o100) === 0) chmodSync('/run/containerd', 0o711);
    mkdirSync('/run/containerd', { recursive: true, mode: 0o711 });
    containerd = await ContainerdHarness.start({ socket: CONTAINERD_SOCKET });
    containerd.importImage();
    docker = await DockerHarness.start({ containerd, socket: DOCKER_SOCKET });
    docker.loadImage();
    engineRun(dockerEngine(DOCKER_SOCKET), ['load', '-i', image.tar], 300_000);
  }, 45 * 60_000);

  afterAll(async () => {
    for (const a of agents) a.remove();
    await podman?.stop();
    await docker?.stop();
    await containerd?.stop();
    release?.();
  }, 120_000);

  test('the image: Node 24, production dependencies only, addons that link no libnode, an encoder without libbpf, at most 250 MB', () => {
    const engine = dockerEngine(DOCKER_SOCKET);
    expect(image.size).toBeLessThanOrEqual(250e6);
    const inImage = (entrypoint: string, ...args: string[]) =>
      engineRun(engine, ['run', '--rm', '--network', 'none', '--entrypoint', entrypoint, image.ref, ...args]);
    expect(inImage('node', '--version')).toMatch(/^v24\./);
    const ldd = inImage('ldd', '/app/build/Release/ebpf_otel.node');
    expect(ldd).toMatch(/libbpf\.so\.1 => /);
    expect(ldd).not.toMatch(/libnode|not found/);
    expect(inImage('ldd', '/app/build/Release/otlp_logs.node')).not.toMatch(/libbpf|libnode|not found/);
    const modules = inImage('ls', '/app/node_modules').split('\n');
    for (const dev of ['typescript', 'jest', 'ts-jest', 'kubernetes-models', 'node']) expect(modules).not.toContain(dev);
    expect(modules).toEqual(expect.arrayContaining(['@grpc', 'prom-client', 'yaml', 'ajv']));
    expect(inImage('node', '/app/bin/ebpf-container-otel.js', '--version')).toMatch(/^ebpf-container-otel \d+\.\d+\.\d+$/);
  });

  test("with the image's libbpf deleted, the OTLP exporter's encoder still loads and encodes; the BPF addon cannot load", () => {
    const script = [
      "const { EventBatch, encodeRecords, BootClock } = require('/app/dist/src/events');",
      "const { LogsRequestEncoder } = require('/app/dist/src/exporters/otlp-logs');",
      "const spec = { type: 'exec', tsBootNs: 1n, pid: 1, tgid: 1, ppid: 0, uid: 0, mntns: 1, cgroupId: 1, comm: 'sh', filename: '/bin/sh', args: ['sh'] };",
      'const { batch } = EventBatch.parse(encodeRecords([spec]), new BootClock());',
      "const encoder = new LogsRequestEncoder({ hostname: 'h', nodeName: '' }, {}, { maxRecords: 10, maxBytes: 1 << 20 });",
      'encoder.add(batch, 0, batch.length, () => {});',
      'const request = encoder.seal();',
      "let bpf = 'loaded';",
      "try { require('/app/build/Release/ebpf_otel.node'); } catch (e) { bpf = e.message; }",
      'console.log(JSON.stringify({ records: request.records, bytes: request.bytes, bpf }));',
    ].join('\n');
    const out = engineRun(dockerEngine(DOCKER_SOCKET), [
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      image.ref,
      '-c',
      'rm -f $(find / -xdev -name "libbpf.so*") && exec node -e "$0"',
      script,
    ]);
    const report = JSON.parse(out) as { records: number; bytes: number; bpf: string };
    expect(report.records).toBe(1);
    expect(report.bytes).toBeGreaterThan(0);
    expect(report.bpf).toMatch(/libbpf\.so\.1: cannot open shared object file/);
  });

  test("Docker (SYS_ADMIN + SYS_PTRACE): a containerd container's and a Docker container's execs carry their container ids, the host's are the host's; /metrics; SIGTERM flushes and exits 0", async () => {
    const port = await freePort();
    const agent = await AgentContainer.start(
      dockerEngine(DOCKER_SOCKET),
      image.ref,
      'eco-agent-docker',
      (configHostDir) => {
        const run = daemonSetRun({ capabilities: DOCKER_CAPS, configHostDir });
        console.log(`docker run ${run.options.join(' ')}\n${run.notes.join('\n')}`);
        return run;
      },
      outputOnly(port),
      port,
    );
    agents.push(agent);
    const log = agent.log();
    // Found the host on its own: the host's mount namespace (the kernel's answer where PID 1 refuses ptrace), no warnings at all.
    const said = /host mount namespace (\d+): /.exec(log);
    if (said) expect(Number(said[1])).toBe(hostMntns);
    expect(warnLines(log)).toEqual([]);

    // Containers started after the agent, on the daemons at their well-known sockets.
    ctrId = 'eco-img-ctr';
    containerd!.runContainer(ctrId);
    dockerName = 'eco-img-docker';
    dockerId = docker!.runContainer(dockerName);
    const m = execEverywhere();
    let all: FlatRecord[] = [];
    await waitFor(
      "the three marked execs on the agent's stdout",
      () => {
        all = records(agent);
        // (waitFor takes any value but undefined and false as done: a boolean, not a count)
        return execsOf(all, m.ctr).length > 0 && execsOf(all, m.docker).length > 0 && execsOf(all, m.host).length > 0;
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nagent log:\n${agent.log()}`);
    });
    const [ctrExec] = execsOf(all, m.ctr);
    const [dockerExec] = execsOf(all, m.docker);
    const [hostExec] = execsOf(all, m.host);
    // Each container's exec carries its container, described by its runtime (found under /host/run).
    explained(agent, [ctrExec, dockerExec], () => {
      expect(ctrExec.resource).toMatchObject({ 'container.id': ctrId, 'container.runtime.name': 'containerd' });
      expect(dockerExec.resource).toMatchObject({
        'container.id': dockerId,
        'container.name': dockerName,
        'container.runtime.name': 'docker',
      });
    });
    // The host's exec is the host's: no container, the host's mount namespace (the agent's own is the container's).
    expect(hostExec.resource['container.id']).toBeUndefined();
    expect(hostExec.attributes['linux.mnt_ns.id']).toBe(String(hostMntns));

    const text = await metrics(port);
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
    expect(sample(text, 'ebpf_container_otel_container_events_total', { container: dockerName, event: 'exec' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'ebpf_container_otel_container_events_total', { container: ctrId, event: 'exec' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'ebpf_container_otel_enrichment_runtime_up', { runtime: 'docker', endpoint: '/host/run/docker.sock' })).toBe(1);
    expect(
      sample(text, 'ebpf_container_otel_enrichment_runtime_up', {
        runtime: 'containerd',
        endpoint: '/host/run/containerd/containerd.sock',
      }),
    ).toBe(1);
    expect(sample(text, 'ebpf_container_otel_enrichment_host_events_total', {})).toBeGreaterThan(0);

    // SIGTERM (docker stop): flushes, exits 0; every record it counted as sent is on stdout.
    expect(agent.stop()).toBe(0);
    const final = agent.log();
    expect(final).toContain('SIGTERM: shutting down');
    expect(final.trimEnd().split('\n').at(-1)).toMatch(/ info {2}stopped$/);
    const stages = JSON.parse(/ final (\[.*\])$/m.exec(final)![1]) as Array<{ component: string; received: number; sent: number }>;
    const file = stages.find((s) => s.component === 'exporters.file')!;
    expect(file.sent).toBe(file.received);
    expect(records(agent)).toHaveLength(file.sent);
  }, 180_000);

  test('without the /host/run mount: one clear warning naming the mount', async () => {
    const port = await freePort();
    const agent = await AgentContainer.start(
      dockerEngine(DOCKER_SOCKET),
      image.ref,
      'eco-agent-norun',
      (configHostDir) => daemonSetRun({ capabilities: DOCKER_CAPS, configHostDir, omitHostPaths: ['/run'] }),
      outputOnly(port),
      port,
    );
    agents.push(agent);
    const m = execEverywhere();
    await waitFor("the Docker container's exec", () => execsOf(records(agent), m.docker).length > 0, 30_000);
    // Its container id still comes from its cgroup path; nothing else is known without the socket.
    const [exec] = execsOf(records(agent), m.docker);
    explained(agent, [exec], () => expect(exec.resource).toMatchObject({ 'container.id': dockerId }));
    const warnings = warnLines(agent.log());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /without the host's \/run at \/host\/run: no container runtime socket .* -v \/run:\/host\/run:ro; Kubernetes: a hostPath volume/,
    );
    expect(agent.stop()).toBe(0);
    // doctor in the same container says which mount is missing and how to add it; the others are there.
    const doctor = doctorInContainer(
      dockerEngine(DOCKER_SOCKET),
      image.ref,
      daemonSetRun({ capabilities: DOCKER_CAPS, omitHostPaths: ['/run'] }),
    );
    expect(doctor.get('host mount /host/run')).toMatchObject({ status: 'warn', fix: expect.stringContaining('-v /run:/host/run:ro') });
    expect(doctor.get('host mount /host/proc')?.status).toBe('ok');
    expect(doctor.get('host mount /host/sys/fs/cgroup')?.status).toBe('ok');
  }, 120_000);

  test('a missing capability is named by its effect: CAP_SYS_PTRACE at start (enrichment goes on), none at all in doctor (not permitted, not a missing kernel feature)', async () => {
    const port = await freePort();
    const agent = await AgentContainer.start(
      dockerEngine(DOCKER_SOCKET),
      image.ref,
      'eco-agent-noptrace',
      (configHostDir) => daemonSetRun({ capabilities: ['SYS_ADMIN'], configHostDir }),
      outputOnly(port),
      port,
    );
    agents.push(agent);
    const warnings = warnLines(agent.log());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/CAP_SYS_PTRACE is missing: .*learned from its first event only.*--cap-add SYS_PTRACE/);
    const m = execEverywhere();
    await waitFor("the Docker container's exec", () => execsOf(records(agent), m.docker).length > 0, 30_000);
    const [exec] = execsOf(records(agent), m.docker);
    explained(agent, [exec], () => expect(exec.resource).toMatchObject({ 'container.id': dockerId, 'container.name': dockerName }));
    expect(agent.stop()).toBe(0);

    const none = doctorInContainer(dockerEngine(DOCKER_SOCKET), image.ref, daemonSetRun({ capabilities: [] }));
    expect(none.get('kernel version')?.status).toBe('ok');
    expect(none.get('capability CAP_BPF')).toMatchObject({ status: 'fail', detail: expect.stringContaining('no BPF program can load') });
    expect(none.get('ring buffer')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('Operation not permitted'),
      fix: expect.stringMatching(
        /^not permitted \(a missing privilege, not a missing kernel feature\): CAP_BPF and CAP_PERFMON are missing/,
      ),
    });
    expect(none.get('capability CAP_SYS_PTRACE')).toMatchObject({ status: 'warn', detail: expect.stringContaining('first event only') });
  }, 120_000);

  test("Podman (the DaemonSet's BPF + PERFMON + SYS_PTRACE, seccomp unconfined), containers_only: the containers' execs, none of the host's", async () => {
    podman = await PodmanHarness.start();
    const engine: Engine = podmanEngine(podman);
    engineRun(engine, ['load', '-i', image.tar], 300_000);
    const port = await freePort();
    const agent = await AgentContainer.start(
      engine,
      image.ref,
      'eco-agent-podman',
      (configHostDir) => {
        const run = daemonSetRun({ configHostDir });
        expect(run.capabilities).toEqual(['BPF', 'PERFMON', 'SYS_PTRACE']);
        console.log(`podman run ${run.options.join(' ')}\n${run.notes.join('\n')}`);
        return run;
      },
      outputOnly(port, '\n    filters:\n      containers_only: true'),
      port,
    );
    agents.push(agent);
    expect(warnLines(agent.log())).toEqual([]);
    const m = execEverywhere();
    let all: FlatRecord[] = [];
    await waitFor(
      "the containers' marked execs",
      () => {
        all = records(agent);
        return execsOf(all, m.ctr).length > 0 && execsOf(all, m.docker).length > 0;
      },
      30_000,
    );
    expect(execsOf(all, m.ctr)[0].resource).toMatchObject({ 'container.id': ctrId, 'container.runtime.name': 'containerd' });
    expect(execsOf(all, m.docker)[0].resource).toMatchObject({ 'container.id': dockerId, 'container.name': dockerName });
    // The kernel passed the BPF program the host's mount namespace (not the agent's own): the host's exec is filtered there.
    expect(execsOf(all, m.host)).toEqual([]);
    expect(all.filter((f) => f.resource['container.id'] === undefined && f.attributes['linux.mnt_ns.id'] === String(hostMntns))).toEqual(
      [],
    );
    const text = await metrics(port);
    expect(sample(text, 'ebpf_container_otel_bpf_events_filtered_total', { event: 'exec' })).toBeGreaterThan(0);
    expect(agent.stop()).toBe(0);
    // Podman's default seccomp profile allows bpf(2) only with CAP_SYS_ADMIN: doctor blames the profile, not the kernel.
    const confined = doctorInContainer(engine, image.ref, daemonSetRun({ defaultSeccomp: true }));
    expect(confined.get('capability CAP_BPF')?.status).toBe('ok');
    expect(confined.get('ring buffer')).toMatchObject({
      status: 'fail',
      fix: expect.stringMatching(/^not permitted .*a seccomp filter refuses bpf\(2\).*seccomp=unconfined/),
    });
  }, 240_000);
});

// The image builds without a registry and where one is reachable alike: the Dockerfile's bases are the standard ones.
test('the Dockerfile builds FROM the standard debian:bookworm images, multi-stage', () => {
  const dockerfile = execFileSync('cat', ['Dockerfile'], { cwd: `${__dirname}/../..`, encoding: 'utf8' });
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((x) => x[1]);
  expect(froms).toEqual(['debian:bookworm', 'debian:bookworm-slim']);
  expect(spawnSync('bash', ['-n', 'scripts/image.sh'], { cwd: `${__dirname}/../..` }).status).toBe(0);
});
