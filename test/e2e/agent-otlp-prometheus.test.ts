/**
 * The whole agent, end to end, as a user runs it: `ebpf-container-otel run --config FILE` as its
 * own process (real BPF programs, real containerd and CRI on the harness's sockets) exporting to
 * an OTLP/gRPC sink that decodes with the official OTLP definitions, and scraped by a real
 * Prometheus. Commands run inside a ctr container and a CRI pod container; their records must
 * arrive under their container's resource with every attribute right (docs/otlp-mapping.md), and
 * the agent's /metrics must pass promtool and count what the sink received.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AgentProcess,
  ContainerdHarness,
  CriPods,
  PrometheusServer,
  REPO_ROOT,
  TEST_IMAGE,
  buildTestImage,
  promtoolCheckMetrics,
  waitFor,
  type RunningPod,
} from '../harness';
import { OtlpSink } from '../harness/otlp-sink';
import { dumpPinned, removePins } from '../enrichment/bpftool';
import { flatRecords, plain, type FlatRecord } from '../exporters/fixtures';
import { mntns, uniq } from '../runtimes/helpers';
import { harnessAgentConfig } from '../harness/agent-config';
import { requires } from '../harness/requires';

const PIN_DIR = `/sys/fs/bpf/ebpf-otel-e2e-${process.pid}`;
const MAP = `${PIN_DIR}/containers`;
const NODE_NAME = uniq('e2e-node');
// TEST_IMAGE as docs/otlp-mapping.md splits it: name without tag, tag apart.
const IMAGE_NAME = 'localhost/ebpf-otel-busybox';
const IMAGE_TAG = 'latest';
const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** What ran in one container, as the host saw it (independently of the agent). */
interface Ran {
  /** Host pid of the `sh -c` (thread group id). */
  pid: number;
  /** What `stat -L -c %i /proc/<pid>/ns/mnt` prints, taken while it ran. */
  mntns: number;
  command: string;
  marker: string;
}

/** Host pid of the process whose argv is exactly `argv`; polls /proc until it appears. */
function pidByArgv(argv: string[], timeoutMs: number): Promise<number> {
  const want = `${argv.join('\0')}\0`;
  return waitFor(
    `a process running ${JSON.stringify(argv)}`,
    () => {
      for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        try {
          if (readFileSync(`/proc/${name}/cmdline`, 'latin1') === want) return Number(name);
        } catch {
          /* exited meanwhile */
        }
      }
      return undefined;
    },
    timeoutMs,
    5,
  );
}

requires('bpf', 'bpftool', 'containerd', 'ctr', 'runc', 'prometheus', 'promtool').describe(
  'whole agent via the CLI: real BPF, containerd + CRI → OTLP sink and Prometheus',
  () => {
    let h: ContainerdHarness;
    let pods: CriPods;
    let sink: OtlpSink;
    let agent: AgentProcess;
    let prom: PrometheusServer | undefined;
    let ctrId: string;
    let pod: RunningPod;
    let containerdDigest: string;
    const ran = new Map<'ctr' | 'pod', Ran>();
    const startedAt = BigInt(Date.now()) * 1_000_000n;

    /**
     * `/bin/sh -c` with a command unique to this container in it (the marker file), run through the
     * runtime as `kubectl exec` would (by `ctr tasks exec`: our CRI subset has no Exec); the `sleep`
     * keeps the shell alive long enough for the host-side lookup of its pid and mount namespace.
     */
    async function runInContainer(key: 'ctr' | 'pod', id: string, namespace: string): Promise<void> {
      const marker = `/tmp/e2e-${uniq(key)}`;
      const command = `cat /etc/hostname; touch ${marker}; sleep 2; true`;
      const argv = ['/bin/sh', '-c', command];
      const exec = h.ctrAsync(['tasks', 'exec', '--exec-id', uniq('exec'), id, ...argv], namespace);
      // Its failure is reported by the `await` below; until then it must not count as unhandled.
      exec.catch(() => undefined);
      const pid = await pidByArgv(argv, 15_000);
      ran.set(key, { pid, mntns: mntns(pid), command, marker });
      await exec;
    }

    beforeAll(async () => {
      buildTestImage();
      h = await ContainerdHarness.start({ cri: true });
      h.importImage('default');
      h.importImage('k8s.io');
      // The manifest digest containerd keeps for the image, read with ctr, not through our client.
      const imageLine = h
        .ctr(['images', 'ls'])
        .split('\n')
        .find((l) => l.split(/\s+/)[0] === TEST_IMAGE);
      containerdDigest = /sha256:[0-9a-f]{64}/.exec(imageLine ?? '')?.[0] ?? `no digest in ${imageLine}`;
      pods = new CriPods(h.socket, path.join(h.dir, 'pods'));
      ctrId = uniq('e2e-ctr');
      const ctrPid = h.runContainer(ctrId);
      pod = await pods.runPod({ name: uniq('web'), namespace: 'shop', containerName: 'app' });
      const podPid = h.taskPid(pod.containerId, 'k8s.io');
      sink = await new OtlpSink().start();

      // A DaemonSet-style config (config/examples/daemonset.yaml) on the harness's daemons only:
      // containers only, decided in the kernel (outside the host's mount namespace).
      // The k8s.io namespace is left to the CRI client, which knows the pod.
      agent = await AgentProcess.start(
        harnessAgentConfig({
          events: ['exec', 'exit', 'open'],
          runtimes: {
            containerd: { socket: h.socket, namespaces: ['default'] },
            cri: { enabled: true, socket: h.socket, poll_interval: '250ms' },
          },
          pinnedMap: { write_path: MAP, read_path: `${PIN_DIR}/no-source` },
          exporters: {
            otlp: { endpoint: sink.address, tls: { insecure: true }, batch: { delay: '200ms' } },
            prometheus: { endpoint: '127.0.0.1:0' },
          },
          service: { node_name: NODE_NAME, shutdown_timeout: '5s' },
        }),
      );
      // The agent has described both containers (its pinned map lists them).
      await waitFor(
        "both containers in the agent's pinned map",
        () => {
          const pinned = dumpPinned(MAP);
          return pinned.has(mntns(ctrPid)) && pinned.has(mntns(podPid));
        },
        20_000,
      );
      await Promise.all([runInContainer('ctr', ctrId, 'default'), runInContainer('pod', pod.containerId, 'k8s.io')]);
    }, 120_000);

    afterAll(async () => {
      await prom?.stop();
      await agent?.destroy();
      sink?.stop();
      await pods?.close();
      await h?.stop();
      removePins(PIN_DIR);
    }, 60_000);

    const received = (): FlatRecord[] => sink.requests.flatMap(flatRecords);

    /** No record is timed after its own observation (kernel boot time and observed time on one clock). */
    function expectNoneObservedEarly(records: FlatRecord[]): void {
      const early = records.filter((f) => BigInt(f.record.timeUnixNano) > BigInt(f.record.observedTimeUnixNano));
      expect(early.map((f) => `${f.record.eventName} time ${f.record.timeUnixNano} > observed ${f.record.observedTimeUnixNano}`)).toEqual(
        [],
      );
    }

    /** Waits for the exec, both opens and the exit of what ran in `key`'s container. */
    async function recordsOf(key: 'ctr' | 'pod') {
      const r = ran.get(key)!;
      const find = (pred: (f: FlatRecord) => boolean) =>
        received().find((f) => f.attributes['linux.mnt_ns.id'] === String(r.mntns) && pred(f));
      const pidIs = (f: FlatRecord) => f.attributes['process.pid'] === String(r.pid);
      try {
        return await waitFor(
          `the ${key} container's records at the sink`,
          () => {
            const exec = find((f) => f.record.eventName === 'process.exec' && pidIs(f));
            const exit = find((f) => f.record.eventName === 'process.exit' && pidIs(f));
            const hostname = find((f) => f.record.eventName === 'file.open' && f.attributes['file.path'] === '/etc/hostname');
            const marker = find((f) => f.record.eventName === 'file.open' && f.attributes['file.path'] === r.marker);
            return exec && exit && hostname && marker && { exec, exit, hostname, marker };
          },
          20_000,
        );
      } catch (err) {
        const seen = received()
          .filter((f) => f.attributes['linux.mnt_ns.id'] === String(r.mntns))
          .map((f) => `${f.record.eventName} ${JSON.stringify(f.attributes)}`);
        throw new Error(
          `${(err as Error).message}; pid ${r.pid} mntns ${r.mntns}; sink has ${sink.records} records, of this mntns:\n${seen.join('\n')}\nagent log:\n${agent.log()}`,
        );
      }
    }

    /** Field by field (docs/otlp-mapping.md) for what ran in one container, under `resource`. */
    async function expectContainerRecords(key: 'ctr' | 'pod', resource: Record<string, string | string[]>): Promise<void> {
      const r = ran.get(key)!;
      const { exec, exit, hostname, marker } = await recordsOf(key);
      for (const f of [exec, exit, hostname, marker]) {
        expect(f.resource).toEqual(resource);
        expect(f.scope).toEqual({ name: 'ebpf-container-otel', version: VERSION });
      }

      expect(exec.record.eventName).toBe('process.exec');
      expect([exec.record.severityNumber, exec.record.severityText]).toEqual([9, 'INFO']);
      expect(plain(exec.record.body)).toBe('exec /bin/sh');
      expect(exec.attributes).toEqual({
        'process.pid': String(r.pid),
        // exec replaces the process image in its (only) thread: its id is the pid.
        'thread.id': String(r.pid),
        // The parent at exec time is runc's short-lived process; the shim adopts the shell later.
        'process.parent_pid': expect.stringMatching(/^[1-9]\d*$/),
        'process.executable.name': 'sh',
        'process.executable.path': '/bin/sh',
        'process.command_args': ['/bin/sh', '-c', r.command],
        'process.real_user.id': '0',
        'process.real_group.id': '0',
        'linux.mnt_ns.id': String(r.mntns),
        // cgroup v2 id; this machine's cgroup v1-only layout has no v2 path to stat it against.
        'linux.cgroup.id': expect.stringMatching(/^\d+$/),
      });
      // Kernel time converted to Unix time: after the test started, not after the sink saw it.
      const time = BigInt(exec.record.timeUnixNano);
      expect(time).toBeGreaterThan(startedAt);
      expect(time).toBeLessThanOrEqual(BigInt(exec.record.observedTimeUnixNano));
      expect(BigInt(exec.record.observedTimeUnixNano)).toBeLessThanOrEqual(BigInt(Date.now()) * 1_000_000n);

      expect(plain(marker.record.body)).toBe(`open ${marker.attributes['file.path']}`);
      expect(marker.attributes).toMatchObject({
        'file.path': r.marker,
        'process.executable.name': 'touch',
        'process.real_user.id': '0',
        'process.real_group.id': '0',
        'linux.mnt_ns.id': String(r.mntns),
      });
      // touch creates the file: O_CREAT (0100) is among the flags; it succeeded, so no error.type.
      expect(Number(marker.attributes['linux.open.flags']) & 0o100).toBe(0o100);
      expect(marker.attributes['error.type']).toBeUndefined();
      expect([marker.record.severityNumber, marker.record.severityText]).toEqual([9, 'INFO']);
      expect(hostname.attributes).toMatchObject({ 'file.path': '/etc/hostname', 'process.executable.name': 'cat' });

      expect(exit.attributes).toMatchObject({ 'process.exit.code': '0', 'process.pid': String(r.pid) });
      expect(plain(exit.record.body)).toBe('exit 0');

      // Grouped by container: every record of this container's cgroup is under this resource, and
      // this resource holds records of that cgroup only. (Its mount namespace also holds runc's own
      // set-up processes before they join the cgroup: those are not the container's.)
      const all = received();
      expectNoneObservedEarly(all);
      const cgroupId = exec.attributes['linux.cgroup.id'];
      const ofCgroup = all.filter((f) => f.attributes['linux.cgroup.id'] === cgroupId);
      const underResource = all.filter((f) => f.resource['container.id'] === resource['container.id']);
      expect(ofCgroup.filter((f) => f.resource['container.id'] !== resource['container.id'])).toEqual([]);
      expect(underResource.filter((f) => f.attributes['linux.cgroup.id'] !== cgroupId)).toEqual([]);
    }

    test('a ctr container: exec, opens and exit arrive under its containerd resource, every attribute by value', async () => {
      expect(`${IMAGE_NAME}:${IMAGE_TAG}`).toBe(TEST_IMAGE);
      await expectContainerRecords('ctr', {
        'service.name': 'ebpf-container-otel',
        'host.name': os.hostname(),
        'k8s.node.name': NODE_NAME,
        'container.id': ctrId,
        'container.name': ctrId,
        'container.runtime.name': 'containerd',
        'container.image.name': IMAGE_NAME,
        'container.image.tags': [IMAGE_TAG],
        // containerd's image target (manifest) digest; containerd gives no image id.
        'container.image.repo_digests': [`${IMAGE_NAME}@${containerdDigest}`],
      });
    });

    test("a CRI pod's container: exec, opens and exit arrive under its resource with the pod's k8s.* attributes", async () => {
      await expectContainerRecords('pod', {
        'service.name': 'ebpf-container-otel',
        'host.name': os.hostname(),
        'k8s.node.name': NODE_NAME,
        'container.id': pod.containerId,
        'container.name': 'app',
        // Described by the CRI client (the containerd client watches `default` only), which reports
        // the runtime behind the CRI endpoint (Version.runtime_name).
        'container.runtime.name': 'containerd',
        'container.image.name': IMAGE_NAME,
        // CRI's image_ref: for an image pulled from no registry, the image id (its config digest),
        // not a repository digest, so there are no repo_digests.
        'container.image.id': buildTestImage().configDigest,
        'container.image.tags': [IMAGE_TAG],
        'k8s.namespace.name': 'shop',
        'k8s.pod.name': pod.name,
        'k8s.pod.uid': pod.uid,
        'k8s.container.name': 'app',
        'k8s.container.restart_count': '0',
        // The harness's pod has the label app=<its name> (the default allow-list sends app); a bare
        // pod, so no workload attributes.
        'k8s.pod.label.app': pod.name,
      });
    });

    test('its /metrics passes promtool, and a real Prometheus scraping it reads receiver, enrichment and exporter counters', async () => {
      await recordsOf('ctr');
      await recordsOf('pod');
      const port = await agent.metricsPort();
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });

      prom = await PrometheusServer.start([`127.0.0.1:${port}`]);
      const value = async (promql: string) => Number((await prom!.queryUntilPresent(promql))[0].value[1]);
      expect(await value('up{job="agent"}')).toBe(1);
      expect(await value('ebpf_container_otel_bpf_events_produced_total{component="receivers.ebpf",event="exec"}')).toBeGreaterThan(0);
      expect(await value('ebpf_container_otel_records_sent_total{component="receivers.ebpf"}')).toBeGreaterThan(0);
      expect(await value('ebpf_container_otel_enrichment_hits_total{component="processors.container_enrichment"}')).toBeGreaterThan(0);
      expect(await value('ebpf_container_otel_enrichment_runtime_up{runtime="cri"}')).toBe(1);
      expect(await value('ebpf_container_otel_enrichment_runtime_up{runtime="containerd"}')).toBe(1);
      expect(await value('ebpf_container_otel_exporter_send_duration_seconds_count{outcome="success"}')).toBeGreaterThan(0);

      // Nothing runs in the containers any more, so the counts have settled: Prometheus's must be
      // exactly what the sink decoded (a scrape is at most a second old: wait for it to catch up).
      const sinkCount = (pred: (f: FlatRecord) => boolean) => received().filter(pred).length;
      const settles = async (promql: string, expected: () => number) =>
        waitFor(`${promql} = ${expected()}`, async () => (await value(promql)) === expected(), 20_000, 500).catch(async (err: Error) => {
          throw new Error(`${err.message}; prometheus has ${await value(promql)}`);
        });
      await settles('ebpf_container_otel_records_sent_total{component="exporters.otlp"}', () => sink.records);
      await settles(
        'ebpf_container_otel_container_events_total{container="app",k8s_namespace="shop",k8s_workload_kind="",k8s_workload_name="",event="exec"}',
        () => sinkCount((f) => f.resource['container.id'] === pod.containerId && f.record.eventName === 'process.exec'),
      );
      await settles(
        `ebpf_container_otel_container_events_total{container="${ctrId}",k8s_namespace="",k8s_workload_kind="",k8s_workload_name="",event="open"}`,
        () => sinkCount((f) => f.resource['container.id'] === ctrId && f.record.eventName === 'file.open'),
      );
    }, 180_000);

    test('SIGINT: exit code 0; the OTLP exporter delivered every record the processor passed on, and nothing was dropped', async () => {
      expect(await agent.stop('SIGINT')).toBe(0);
      const stages = agent.finalTelemetry()!;
      const stage = (component: string) => stages.find((s) => s.component === component);
      const passedOn = stage('processors.container_enrichment')!.sent;
      expect(passedOn).toBeGreaterThan(0);
      expect(stage('exporters.otlp')).toEqual({ component: 'exporters.otlp', received: passedOn, sent: sink.records, dropped: {} });
      expect(sink.records).toBe(passedOn);
      expectNoneObservedEarly(received());
      expect(stage('exporters.prometheus')).toEqual({ component: 'exporters.prometheus', received: passedOn, sent: passedOn, dropped: {} });
      expect(
        agent
          .log()
          .split('\n')
          .filter((l) => / error /.test(l) || /^\s+at /.test(l)),
      ).toEqual([]);
    });
  },
);
