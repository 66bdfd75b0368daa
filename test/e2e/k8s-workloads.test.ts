/**
 * Issue 15 acceptance: Kubernetes metadata from the node alone. Pods run through CRI the way the
 * kubelet runs them (RunPodSandbox with the pod's labels and annotations, CreateContainer with the
 * kubelet's io.kubernetes.* labels and annotations), named and labelled as the workload
 * controllers name and label theirs: two pods of a Deployment (its ReplicaSet), a StatefulSet's,
 * a DaemonSet's, a CronJob's Job's (a short-lived container), a bare pod, and a pod of 200 labels
 * and 200 annotations of 10 KB. The whole agent (`ebpf-container-otel run`, real BPF) describes
 * them through the native containerd client (as on a containerd node) and, in a second run,
 * through the CRI client; every record of each pod's container must carry exactly its workload's
 * attributes (none for the bare pod) and its allow-listed labels, from the container's first
 * record on; the big pod's attributes are bounded and counted and nothing breaks; the agent's
 * /metrics passes promtool and a real Prometheus sees the series by workload.
 */
import * as path from 'node:path';
import {
  AgentProcess,
  ContainerdHarness,
  CriPods,
  PrometheusServer,
  buildTestImage,
  promtoolCheckMetrics,
  waitFor,
  type PodSpec,
  type RunningPod,
} from '../harness';
import { OtlpSink } from '../harness/otlp-sink';
import { removePins } from '../enrichment/bpftool';
import { flatRecords, type FlatRecord, type Plain } from '../exporters/fixtures';
import { harnessAgentConfig } from '../harness/agent-config';
import { requires } from '../harness/requires';

const PIN_DIR = `/sys/fs/bpf/ebpf-otel-k8s-${process.pid}`;
const WORKLOAD_KEYS = /^k8s\.(replicaset|deployment|statefulset|daemonset|job|cronjob)\.name$/;
const POD_META_KEYS = /^k8s\.pod\.(label|annotation)\./;
/** The container's command: its first record is this shell's exec; `cat` opens /etc/hostname. */
const LONG_RUNNING = ['/bin/sh', '-c', 'cat /etc/hostname; exec sleep 100000'];
const SHORT_LIVED = ['/bin/sh', '-c', 'cat /etc/hostname; sleep 1; exit 0'];

/** 5 characters of generateName's alphabet. */
function suffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from({ length: 5 }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
}

interface Case {
  what: string;
  spec: Omit<PodSpec, 'namespace'>;
  /** Workload attributes and restart count the resource must have, exactly. */
  workload: Record<string, string>;
  restartCount: string;
  /** k8s.pod.label.* / k8s.pod.annotation.* the resource must have, exactly (default allow-list, annotations example.com/*). */
  podMeta: Record<string, string>;
  /** Prometheus's workload labels for it. */
  series: { kind: string; name: string };
}

function cases(): Case[] {
  const cronMinutes = Math.floor(Date.now() / 60_000) - 1;
  const job = `backup-${cronMinutes}`;
  return [
    ...[suffix(), suffix()].map((s, k): Case => ({
      what: `Deployment web, replica ${k + 1}`,
      spec: {
        name: `web-5dd5756b68-${s}`,
        labels: {
          app: 'web',
          'app.kubernetes.io/name': 'web',
          'app.kubernetes.io/version': '1.2.3',
          'pod-template-hash': '5dd5756b68',
          team: 'checkout',
        },
        annotations: { 'example.com/owner': 'team-a', 'kubectl.kubernetes.io/restartedAt': '2025-11-30T10:00:00Z' },
      },
      workload: { 'k8s.replicaset.name': 'web-5dd5756b68', 'k8s.deployment.name': 'web' },
      restartCount: '0',
      podMeta: {
        'k8s.pod.label.app': 'web',
        'k8s.pod.label.app.kubernetes.io/name': 'web',
        'k8s.pod.label.app.kubernetes.io/version': '1.2.3',
        'k8s.pod.annotation.example.com/owner': 'team-a',
      },
      series: { kind: 'Deployment', name: 'web' },
    })),
    {
      what: 'StatefulSet db (restarted twice)',
      spec: {
        name: 'db-0',
        labels: {
          app: 'db',
          'apps.kubernetes.io/pod-index': '0',
          'controller-revision-hash': 'db-6b9c5d8f7',
          'statefulset.kubernetes.io/pod-name': 'db-0',
        },
        restartCount: 2,
      },
      workload: { 'k8s.statefulset.name': 'db' },
      restartCount: '2',
      podMeta: { 'k8s.pod.label.app': 'db' },
      series: { kind: 'StatefulSet', name: 'db' },
    },
    {
      what: 'DaemonSet node-agent',
      spec: {
        name: `node-agent-${suffix()}`,
        labels: {
          'app.kubernetes.io/name': 'node-agent',
          'controller-revision-hash': '669fc44fbc',
          'k8s-app': 'node-agent',
          'pod-template-generation': '1',
        },
      },
      workload: { 'k8s.daemonset.name': 'node-agent' },
      restartCount: '0',
      podMeta: { 'k8s.pod.label.app.kubernetes.io/name': 'node-agent', 'k8s.pod.label.k8s-app': 'node-agent' },
      series: { kind: 'DaemonSet', name: 'node-agent' },
    },
    {
      what: "CronJob backup's Job (a container that exits after a second)",
      spec: {
        name: `${job}-${suffix()}`,
        labels: {
          app: 'backup',
          'batch.kubernetes.io/controller-uid': 'c8a2e1f0',
          'batch.kubernetes.io/job-name': job,
          'controller-uid': 'c8a2e1f0',
          'job-name': job,
        },
        command: SHORT_LIVED,
      },
      workload: { 'k8s.job.name': job, 'k8s.cronjob.name': 'backup' },
      restartCount: '0',
      podMeta: { 'k8s.pod.label.app': 'backup' },
      series: { kind: 'CronJob', name: 'backup' },
    },
    {
      what: 'a bare pod',
      spec: { name: 'debug', labels: { run: 'debug', app: 'debug' } },
      workload: {},
      restartCount: '0',
      podMeta: { 'k8s.pod.label.app': 'debug' },
      series: { kind: '', name: '' },
    },
  ];
}

/** 200 labels the default allow-list takes (containerd refuses a label over 4096 bytes with its key) and 200 annotations of 10 KB. */
function bigPod(): Omit<PodSpec, 'namespace'> {
  const labels: Record<string, string> = { app: 'big' };
  const annotations: Record<string, string> = {};
  for (let k = 0; k < 200; k++) {
    labels[`app.kubernetes.io/l${String(k).padStart(3, '0')}`] = `${'ä'.repeat(k % 2)}${'v'.repeat(4000)}`;
    annotations[`example.com/a${String(k).padStart(3, '0')}`] = 'w'.repeat(10 * 1024);
  }
  return { name: 'big', labels, annotations };
}

requires('bpf', 'bpftool', 'containerd', 'ctr', 'runc', 'prometheus', 'promtool').describe(
  'k8s metadata without an API server: workloads, pod labels, metrics by workload (issue 15)',
  () => {
    let h: ContainerdHarness;
    let pods: CriPods;

    beforeAll(async () => {
      buildTestImage();
      h = await ContainerdHarness.start({ cri: true });
      h.importImage('k8s.io');
      pods = new CriPods(h.socket, path.join(h.dir, 'pods'));
    }, 120_000);

    afterAll(async () => {
      await pods?.close();
      await h?.stop();
      removePins(PIN_DIR);
    }, 60_000);

    describe.each([
      ['the native containerd client (a containerd node)', 'containerd'],
      ['the CRI client', 'cri'],
    ] as const)('described by %s', (_how, mode) => {
      const namespace = `shop-${mode}`;
      let sink: OtlpSink;
      let agent: AgentProcess;
      let prom: PrometheusServer | undefined;
      const ran: Array<{ c: Case; pod: RunningPod }> = [];
      let big: RunningPod;

      beforeAll(async () => {
        sink = await new OtlpSink().start();
        agent = await AgentProcess.start(
          harnessAgentConfig({
            events: ['exec', 'exit', 'open'],
            runtimes:
              mode === 'containerd'
                ? { containerd: { socket: h.socket, namespaces: ['k8s.io'] } }
                : {
                    containerd: { socket: h.socket, namespaces: ['default'] },
                    cri: { enabled: true, socket: h.socket, poll_interval: '250ms' },
                  },
            pinnedMap: { write_path: `${PIN_DIR}/${mode}`, read_path: `${PIN_DIR}/no-source` },
            exporters: {
              otlp: {
                endpoint: sink.address,
                tls: { insecure: true },
                batch: { delay: '100ms' },
                pod_metadata: { annotations: ['example.com/*'] },
              },
              prometheus: { endpoint: '127.0.0.1:0' },
            },
            service: { shutdown_timeout: '5s' },
          }),
        );
        // Pods start once the agent runs: each container's first record (its shell's exec) must
        // already carry its pod's metadata.
        for (const c of cases()) {
          ran.push({ c, pod: await pods.runPod({ ...c.spec, namespace, containerName: 'app', command: c.spec.command ?? LONG_RUNNING }) });
        }
        big = await pods.runPod({ ...bigPod(), namespace, containerName: 'app', command: LONG_RUNNING });
      }, 120_000);

      afterAll(async () => {
        await prom?.stop();
        await agent?.destroy();
        sink?.stop();
        for (const { pod } of ran.splice(0)) await pods.removePod(pod.podId).catch(() => undefined);
        if (big) await pods.removePod(big.podId).catch(() => undefined);
      }, 60_000);

      const received = (): FlatRecord[] => sink.requests.flatMap(flatRecords);
      const ofContainer = (id: string) => received().filter((f) => f.resource['container.id'] === id);

      /** The container's first process's exec (its shell) and cat's open of /etc/hostname, at the sink. */
      async function recordsOf(pod: RunningPod): Promise<FlatRecord[]> {
        try {
          return await waitFor(
            `the records of ${pod.name}`,
            () => {
              const records = ofContainer(pod.containerId);
              const shell = records.some(
                (f) => f.record.eventName === 'process.exec' && f.attributes['process.executable.path'] === '/bin/sh',
              );
              const open = records.some((f) => f.record.eventName === 'file.open' && f.attributes['file.path'] === '/etc/hostname');
              return shell && open ? records : undefined;
            },
            20_000,
          );
        } catch (err) {
          throw new Error(`${(err as Error).message}; sink has ${sink.records} records\nagent log:\n${agent.log()}`);
        }
      }

      const pick = (resource: Record<string, Plain>, re: RegExp) =>
        Object.fromEntries(Object.entries(resource).filter(([k]) => re.test(k)));

      test("every pod's records carry exactly its workload's attributes (none for the bare pod), its restart count and its allow-listed labels and annotations, from the first record on", async () => {
        for (const { c, pod } of ran) {
          const records = await recordsOf(pod);
          const first = records.find(
            (f) => f.record.eventName === 'process.exec' && f.attributes['process.executable.path'] === '/bin/sh',
          )!;
          expect({ what: c.what, args: first.attributes['process.command_args'] }).toEqual({
            what: c.what,
            args: c.spec.command ?? LONG_RUNNING,
          });
          for (const f of records) {
            expect({ what: c.what, event: f.record.eventName, workload: pick(f.resource, WORKLOAD_KEYS) }).toEqual({
              what: c.what,
              event: f.record.eventName,
              workload: c.workload,
            });
            expect({ what: c.what, podMeta: pick(f.resource, POD_META_KEYS) }).toEqual({ what: c.what, podMeta: c.podMeta });
            expect(f.resource).toMatchObject({
              'k8s.namespace.name': namespace,
              'k8s.pod.name': pod.name,
              'k8s.pod.uid': pod.uid,
              'k8s.container.name': 'app',
              'k8s.container.restart_count': c.restartCount,
            });
          }
        }
      });

      test('a pod of 200 labels and 200 annotations of 10 KB: at most 32 pod attributes of at most 256 bytes, the rest counted; the agent carries on', async () => {
        const records = await recordsOf(big);
        for (const f of records) {
          const meta = pick(f.resource, POD_META_KEYS);
          expect(Object.keys(meta)).toHaveLength(32);
          // Labels first, in key order (`app`, then app.kubernetes.io/l000 …), then annotations: none fit.
          expect(Object.keys(meta).slice(0, 2)).toEqual(['k8s.pod.label.app', 'k8s.pod.label.app.kubernetes.io/l000']);
          expect(Object.keys(meta)[31]).toBe('k8s.pod.label.app.kubernetes.io/l030');
          for (const v of Object.values(meta)) expect(Buffer.byteLength(String(v))).toBeLessThanOrEqual(256);
          expect(meta['k8s.pod.label.app.kubernetes.io/l001']).toBe(`ä${'v'.repeat(254)}`);
        }
        const text = await (await fetch(`http://127.0.0.1:${await agent.metricsPort()}/metrics`)).text();
        const cut = (kind: string, reason: string) =>
          Number(
            new RegExp(
              `^ebpf_container_otel_exporter_pod_metadata_cut_total\\{component="exporters.otlp",kind="${kind}",reason="${reason}"\\} (\\d+)$`,
              'm',
            ).exec(text)?.[1] ?? 0,
          );
        // 201 labels allowed (200 + app), 32 sent: 169 left out, 31 cut (not app's); all 200 annotations left out.
        // Counted per resource built (a container described again is counted again): whole multiples.
        expect(cut('label', 'count') % 169).toBe(0);
        expect(cut('label', 'count')).toBeGreaterThanOrEqual(169);
        expect(cut('label', 'length') / cut('label', 'count')).toBe(31 / 169);
        expect(cut('annotation', 'count') / cut('label', 'count')).toBe(200 / 169);
        // Still running and exporting: a pod started after the big one is described and delivered.
        const after = await pods.runPod({
          name: `after-${suffix()}`,
          namespace,
          containerName: 'app',
          labels: { app: 'after' },
          command: LONG_RUNNING,
        });
        ran.push({
          c: {
            what: 'after',
            spec: { name: after.name },
            workload: {},
            restartCount: '0',
            podMeta: { 'k8s.pod.label.app': 'after' },
            series: { kind: '', name: '' },
          },
          pod: after,
        });
        const afterRecords = await recordsOf(after);
        expect(pick(afterRecords[0].resource, POD_META_KEYS)).toEqual({ 'k8s.pod.label.app': 'after' });
        expect(agent.log()).not.toMatch(/ error |uncaught|RESOURCE_EXHAUSTED|larger than max/i);
      });

      test('/metrics passes promtool; a real Prometheus sees the events by namespace, workload and container (the two replicas in one series, no pod label)', async () => {
        for (const { pod } of ran) await recordsOf(pod);
        const port = await agent.metricsPort();
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
        expect(text).not.toMatch(/container_events_total\{[^}]*k8s_pod=/);

        prom = await PrometheusServer.start([`127.0.0.1:${port}`]);
        const execs = (ids: string[]) =>
          received().filter((f) => ids.includes(String(f.resource['container.id'])) && f.record.eventName === 'process.exec').length;
        const bySeries = new Map<string, string[]>();
        for (const { c, pod } of ran) {
          const key = `${c.series.kind}/${c.series.name}`;
          bySeries.set(key, [...(bySeries.get(key) ?? []), pod.containerId]);
        }
        expect(bySeries.get('Deployment/web')).toHaveLength(2);
        for (const [key, ids] of bySeries) {
          const [kind, name] = key.split('/');
          // The bare pods (kind "") share theirs with the big pod, which has no workload either.
          const all = kind === '' ? [...ids, big.containerId] : ids;
          const promql = `ebpf_container_otel_container_events_total{k8s_namespace="${namespace}",k8s_workload_kind="${kind}",k8s_workload_name="${name}",container="app",event="exec"}`;
          // Nothing new runs in these containers: Prometheus's count settles at what the sink decoded.
          await waitFor(
            `${promql} = ${execs(all)}`,
            async () => {
              const samples = await prom!.query(promql);
              return samples.length === 1 && Number(samples[0].value[1]) === execs(all);
            },
            20_000,
            500,
          ).catch(async (err: Error) => {
            throw new Error(`${err.message}; prometheus has ${JSON.stringify(await prom!.query(promql))}`);
          });
        }
      }, 180_000);
    });
  },
);
