/**
 * Acceptance of issue 11 on real BPF and real daemons: short-lived containers
 * started back to back — `ctr run --rm`, `docker run --rm`, `podman run --rm`
 * and kubelet-style CRI pods whose container exits at once — each running
 * `/bin/sh -c 'exec /bin/echo <marker>'`. Every container's first exec (the
 * `/bin/sh`) and its `/bin/echo <marker>` must carry that container's id:
 * none on another container (mount namespace inodes are reused within
 * milliseconds), none unenriched, none missing — with the containers-only
 * kernel filter off and on. Prints right / wrong / unenriched / missing per
 * runtime.
 */
import * as path from 'node:path';
import { parseDuration } from '../../src/pipeline/units';
import { containerEnrichmentProcessorFactory } from '../../src/processors/container-enrichment';
import type { RuntimesConfig } from '../../src/processors/container-enrichment/runtime';
import { ContainerdHarness, CriPods, DockerHarness, PodmanHarness, buildTestImage, type RunningPod } from '../harness';
import { criRunPod, ctrRunRm, dockerRunRm, podmanRunRm } from '../harness/oneshot';
import { removePins } from './bpftool';
import { type RealPipeline, type SeenRecord, startRealPipeline } from './pipeline';
import { requires } from '../harness/requires';

/** Containers per runtime and filter setting. */
const PER_RUNTIME = 20;
/** Containers of one runtime in flight at once (a node running CronJobs / CI steps): each lane starts its next as soon as one is gone. */
const LANES = 4;
/** The processor's `pending.deadline` (its default, which the pipeline keeps) plus 3 s: how long after the last container records may still come. */
const PENDING_DEADLINE_MS = parseDuration(containerEnrichmentProcessorFactory.createDefaultConfig().pending.deadline);
const SETTLE_MS = PENDING_DEADLINE_MS + 3000;

type RuntimeKey = 'ctr' | 'docker' | 'podman' | 'cri';
const RUNTIMES: Array<{ key: RuntimeKey; needs: string[] }> = [
  { key: 'ctr', needs: ['containerd', 'ctr', 'runc'] },
  { key: 'docker', needs: ['containerd', 'ctr', 'runc', 'dockerd', 'docker'] },
  { key: 'podman', needs: ['podman', 'conmon', 'runc'] },
  { key: 'cri', needs: ['containerd', 'ctr', 'runc'] },
];
const AVAILABLE = RUNTIMES.filter(({ key, needs }) => requires(...needs).available(`churn of ${key} containers`)).map((r) => r.key);
const has = (key: RuntimeKey) => AVAILABLE.includes(key);

type Verdict = 'right' | 'wrong' | 'unenriched' | 'missing';
const VERDICTS: Verdict[] = ['right', 'wrong', 'unenriched', 'missing'];
/** The two execs every container makes: its first (`/bin/sh -c …`) and the `/bin/echo <marker>` it becomes. */
type Exec = 'sh' | 'echo';
const EXECS: Exec[] = ['sh', 'echo'];

interface Started {
  runtime: RuntimeKey;
  marker: string;
  /** The id the runtime gave the container. */
  id: string;
  /**
   * Why the container did not run its command to a clean exit, or undefined: a harness check, not
   * the product's. Absent where the CLI already failed on a non-zero exit status (ctr, docker, podman).
   */
  ran?: () => Promise<string | undefined>;
}

/** Runs `fn(0 … count-1)`, LANES at a time; every lane finishes before an error is thrown (cleanup sees every container). */
async function inLanes(count: number, fn: (k: number) => Promise<void>): Promise<void> {
  let next = 0;
  const results = await Promise.allSettled(
    Array.from({ length: LANES }, async () => {
      for (let k = next++; k < count; k = next++) await fn(k);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** A CRI container's end as the runtime reports it: undefined when it exited with status 0. */
async function criExitedCleanly(pods: CriPods, containerId: string): Promise<string | undefined> {
  // Its records may be in before containerd has seen the exit (a busy machine): give it 10 s.
  for (let waited = 0; ; waited += 100) {
    const { status } = await pods.call<{ status: { state: string; exit_code?: number; reason?: string } }>('ContainerStatus', {
      container_id: containerId,
    });
    if (status.state === 'CONTAINER_EXITED' && (status.exit_code ?? 0) === 0) return undefined;
    if (status.state === 'CONTAINER_EXITED' || waited >= 10_000)
      return `state ${status.state}, exit code ${status.exit_code ?? 0}${status.reason ? `, ${status.reason}` : ''}`;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const command = (marker: string) => ['/bin/sh', '-c', `exec /bin/echo ${marker}`];

/** Indexes records by the marker they carry, scanning only records added since the last call. */
class MarkerIndex {
  private scanned = 0;
  private readonly seen = new Map<string, SeenRecord[]>();

  constructor(private readonly records: SeenRecord[]) {}

  private scan(): void {
    for (; this.scanned < this.records.length; this.scanned++) {
      const r = this.records[this.scanned];
      if (r.type !== 'exec') continue;
      let key: string | undefined;
      if (r.args[0] === '/bin/echo' && r.args.length === 2) key = `echo:${r.args[1]}`;
      else if (r.args[0] === '/bin/sh' && r.args[1] === '-c' && r.args[2]?.startsWith('exec /bin/echo '))
        key = `sh:${r.args[2].slice('exec /bin/echo '.length)}`;
      if (key === undefined) continue;
      const list = this.seen.get(key) ?? [];
      list.push(r);
      this.seen.set(key, list);
    }
  }

  of(exec: Exec, marker: string): SeenRecord[] {
    this.scan();
    return this.seen.get(`${exec}:${marker}`) ?? [];
  }
}

function verdict(records: SeenRecord[], id: string): Verdict {
  if (records.length === 0) return 'missing';
  if (records.some((r) => r.container !== null && r.container.id !== id)) return 'wrong';
  if (records.some((r) => r.container === null)) return 'unenriched';
  return 'right';
}

const describeRecord = (r: SeenRecord) =>
  `${r.container ? `container ${r.container.id.slice(0, 24)} (${r.container.runtime}, mntns ${r.container.mntns})` : 'no container'}; record pid ${r.pid} mntns ${r.mntns} cgroup ${r.cgroupId ?? '?'}`;

requires('bpf', 'bpftool').describe(`issue 11 churn: ${PER_RUNTIME} short-lived containers per runtime, back to back`, () => {
  let containerd: ContainerdHarness | undefined;
  let docker: DockerHarness | undefined;
  let podman: PodmanHarness | undefined;
  let pods: CriPods | undefined;
  let podsDir = '';

  beforeAll(async () => {
    if (AVAILABLE.length === 0) throw new Error('no runtime to churn (each was reported SKIPPED above)');
    buildTestImage();
    if (has('ctr') || has('cri') || has('docker')) {
      containerd = await ContainerdHarness.start({ cri: has('cri') });
      containerd.importImage('default');
      if (has('cri')) {
        containerd.importImage('k8s.io');
        podsDir = path.join(containerd.dir, 'pods');
        pods = new CriPods(containerd.socket, podsDir);
      }
    }
    if (has('docker')) {
      docker = await DockerHarness.start({ containerd });
      docker.loadImage();
    }
    if (has('podman')) {
      podman = await PodmanHarness.start();
      podman.loadImage();
    }
  }, 180_000);

  afterAll(async () => {
    await pods?.close();
    await docker?.stop();
    await podman?.stop();
    await containerd?.stop();
  }, 180_000);

  /** What a production node with all of these runtimes configures: every runtime's socket, containerd's namespaces all watched. */
  const runtimes = (): RuntimesConfig => ({
    ...(containerd ? { containerd: { socket: containerd.socket } } : {}),
    ...(has('cri') && containerd ? { cri: { enabled: true, socket: containerd.socket } } : {}),
    ...(docker ? { docker: { socket: docker.socket } } : {}),
    ...(podman ? { podman: { socket: podman.socket } } : {}),
  });

  /** Waits until every configured runtime client has answered (as on an agent that has been running a while). */
  async function runtimesUp(p: RealPipeline): Promise<void> {
    const want = Object.keys(runtimes()).length;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await p.registry.getSingleMetricAsString('ebpf_container_otel_enrichment_runtime_up');
      if (text.split('\n').filter((l) => !l.startsWith('#') && / 1$/.test(l)).length >= want) return;
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${want} runtime clients to be up:\n${text}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  for (const containersOnly of [false, true]) {
    test(`containers_only: ${containersOnly} — 100% of first execs carry their own container id, 0 misattributed`, async () => {
      const dir = `/sys/fs/bpf/ebpf-otel-test-churn-${process.pid}-${containersOnly ? 'on' : 'off'}`;
      const map = `${dir}/containers`;
      const mode = containersOnly ? 'on' : 'off';
      const started: Started[] = [];
      const startedPods: RunningPod[] = [];
      let p: RealPipeline | undefined;
      try {
        p = await startRealPipeline(runtimes(), { pinned_map: { write_path: map, read_path: `${dir}/no-source` } }, undefined, {
          filters: { containers_only: containersOnly },
        });
        await runtimesUp(p);
        const pipeline = p;
        const index = new MarkerIndex(pipeline.records);
        const marker = (rt: RuntimeKey, k: number) => `churn-${process.pid}-${mode}-${rt}-${k}-${Math.random().toString(36).slice(2, 8)}`;

        // Back to back, LANES at a time per runtime: each CLI returns once its container has exited
        // (with --rm, once it was removed); that lane's next container starts at once.
        const t0 = Date.now();
        const name = (k: number) => `churn-${process.pid}-${mode}-${k}`;
        if (has('ctr')) {
          await inLanes(PER_RUNTIME, async (k) => {
            const m = marker('ctr', k);
            const { id } = await ctrRunRm(containerd!, name(k), command(m));
            started.push({ runtime: 'ctr', marker: m, id });
          });
        }
        if (has('docker')) {
          await inLanes(PER_RUNTIME, async (k) => {
            const m = marker('docker', k);
            const { id } = await dockerRunRm(docker!, name(k), command(m));
            started.push({ runtime: 'docker', marker: m, id });
          });
        }
        if (has('podman')) {
          await inLanes(PER_RUNTIME, async (k) => {
            const m = marker('podman', k);
            const { id } = await podmanRunRm(podman!, name(k), command(m));
            started.push({ runtime: 'podman', marker: m, id });
          });
        }
        if (has('cri')) {
          await inLanes(PER_RUNTIME, async (k) => {
            const m = marker('cri', k);
            const pod = await criRunPod(pods!, `job-${process.pid}-${mode}-${k}`, command(m), 'batch');
            startedPods.push(pod);
            started.push({ runtime: 'cri', marker: m, id: pod.containerId, ran: () => criExitedCleanly(pods!, pod.containerId) });
          });
        }
        const last = Date.now();

        // Bounded: every record found, or the processor's pending deadline plus 3 s after the last container.
        await pipeline
          .waitFor(
            'the records of every container',
            () => started.every((c) => EXECS.every((e) => index.of(e, c.marker).length > 0)),
            SETTLE_MS,
          )
          .catch(() => undefined);
        const waited = Date.now() - last;

        const counts = new Map<string, Record<Verdict, number>>();
        for (const rt of AVAILABLE) for (const e of EXECS) counts.set(`${rt} ${e}`, { right: 0, wrong: 0, unenriched: 0, missing: 0 });
        const problems: string[] = [];
        for (const c of started) {
          for (const e of EXECS) {
            const records = index.of(e, c.marker);
            const v = verdict(records, c.id);
            const key = `${c.runtime} ${e}`;
            counts.get(key)![v]++;
            if (v !== 'right')
              problems.push(
                `${key} ${v}: container ${c.id.slice(0, 24)} (${c.marker}): ${records.map(describeRecord).join(' | ') || 'no record'}`,
              );
          }
        }
        const lines = [
          `churn, containers_only: ${containersOnly}: ${started.length} containers (${LANES} at a time per runtime) started in ${last - t0} ms, counted ${waited} ms after the last`,
          `${'runtime exec'.padEnd(14)}${VERDICTS.map((v) => v.padStart(11)).join('')}`,
          ...[...counts].map(([key, row]) => `${key.padEnd(14)}${VERDICTS.map((v) => String(row[v]).padStart(11)).join('')}`),
          `enrichment counters: ${JSON.stringify(pipeline.processor.counters)}`,
        ];
        console.log(
          lines.join('\n') + (problems.length ? `\nnot right (first 40 of ${problems.length}):\n${problems.slice(0, 40).join('\n')}` : ''),
        );

        const unran = (await Promise.all(started.map(async (c) => [c, await c.ran?.()] as const))).filter(([, why]) => why !== undefined);
        expect(unran.map(([c, why]) => `${c.runtime} ${c.id} did not run its command: ${why}`)).toEqual([]);
        const perfect = Object.fromEntries(
          [...counts.keys()].map((key) => [key, { right: PER_RUNTIME, wrong: 0, unenriched: 0, missing: 0 }]),
        );
        expect(Object.fromEntries(counts)).toEqual(perfect);
      } finally {
        for (const pod of startedPods) await pods!.removePod(pod.podId).catch(() => undefined);
        await p?.stop();
        removePins(dir);
      }
    }, 240_000);
  }
});
