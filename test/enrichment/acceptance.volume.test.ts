/**
 * Acceptance of volume control (receivers.ebpf.filters: containers, open,
 * rate_limit) on real BPF with real containerd + CRI pods run the kubelet's
 * way: what is filtered never reaches the exporters, and once a container is
 * decided the kernel does the filtering.
 */
import * as path from 'node:path';
import { uniq } from '../runtimes/helpers';
import { ContainerdHarness, CriPods, buildTestImage, type RunningPod } from '../harness';
import { removePins } from './bpftool';
import { type RealPipeline, type ReceiverOverrides, startRealPipeline } from './pipeline';
import { requires } from '../harness/requires';

const DIR = `/sys/fs/bpf/ebpf-otel-test-acc-volume-${process.pid}`;
/** Every 0.2 s: one exec (cat) and its opens. */
const LOOP = (files: string) => ['/bin/sh', '-c', `while true; do /bin/cat ${files} > /dev/null; sleep 0.2; done`];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

requires('bpf', 'bpftool', 'containerd', 'ctr', 'runc').describe('volume control on real BPF with containerd + CRI pods', () => {
  let h: ContainerdHarness;
  let pods: CriPods;
  let p: RealPipeline | undefined;
  const running: RunningPod[] = [];

  beforeAll(async () => {
    buildTestImage();
    h = await ContainerdHarness.start({ cri: true });
    h.importImage('k8s.io');
    pods = new CriPods(h.socket, path.join(h.dir, 'pods'));
  }, 180_000);

  afterEach(async () => {
    await p?.stop();
    p = undefined;
    for (const pod of running.splice(0)) await pods.removePod(pod.podId).catch(() => undefined);
    removePins(DIR);
  }, 60_000);

  afterAll(async () => {
    await pods?.close();
    await h?.stop();
  }, 60_000);

  const start = (filters: ReceiverOverrides['filters']) =>
    startRealPipeline(
      { cri: { enabled: true, socket: h.socket, poll_interval: '250ms' } },
      { pinned_map: { write_path: `${DIR}/containers`, read_path: `${DIR}/no-source` } },
      ['exec', 'open', 'exit'],
      { filters },
    );
  const runPod = async (name: string, namespace: string, command: string[], labels?: Record<string, string>) => {
    const pod = await pods.runPod({ name: uniq(name), namespace, command, ...(labels ? { labels } : {}) });
    running.push(pod);
    return pod;
  };
  const of = (pod: RunningPod) => p!.records.filter((r) => r.container?.id === pod.containerId);
  const opensOf = (pod: RunningPod, file: string) => of(pod).filter((r) => r.type === 'open' && r.path === file);

  test("include k8s_namespace shop, exclude a pod label: shop's records arrive; other's and the excluded pod's never do, and the kernel filters them once decided", async () => {
    p = await start({
      containers_only: true,
      containers: { include: [{ k8s_namespace: 'shop' }], exclude: [{ k8s_pod_labels: { tier: 'debug' } }] },
    });
    const web = await runPod('web', 'shop', LOOP('/etc/hostname'), { app: 'web' });
    const debug = await runPod('dbg', 'shop', LOOP('/etc/hostname'), { app: 'dbg', tier: 'debug' });
    const other = await runPod('api', 'other', LOOP('/etc/hostname'));
    await p.waitFor("shop's exec and open", () => of(web).some((r) => r.type === 'exec') && opensOf(web, '/etc/hostname').length > 0);
    // Every container decided (pod sandboxes, which no runtime describes, after pending.deadline):
    // the verdicts are in the kernel from here on.
    await p.waitFor('every container decided', () => [...p!.processor.index.live()].every((k) => k.described || k.settled), 10_000);
    await sleep(500);
    const notSelected = () => p!.processorStage.dropped.get('not_selected') ?? 0;
    const filtered = () => p!.receiverStats().exec.filtered;
    const [droppedBefore, filteredBefore] = [notSelected(), filtered()];
    await sleep(2000);
    expect(of(other)).toEqual([]);
    expect(of(debug)).toEqual([]);
    // Their records no longer reach user space (the processor drops none of them any more) …
    expect(notSelected()).toBe(droppedBefore);
    // … because the kernel filters them: ~10 execs each in 2 s.
    expect(filtered() - filteredBefore).toBeGreaterThanOrEqual(10);
    // The selected pod kept arriving all along.
    expect(of(web).filter((r) => r.type === 'exec').length).toBeGreaterThanOrEqual(10);
  }, 120_000);

  test("exclude_path_prefixes /proc/: a pod's /proc opens never arrive, its /etc opens do", async () => {
    p = await start({ containers_only: true, open: { include_path_prefixes: [], exclude_path_prefixes: ['/proc/'] } });
    const pod = await runPod('procs', 'shop', LOOP('/proc/self/status /etc/hostname'));
    await p.waitFor('three opens of /etc/hostname', () => opensOf(pod, '/etc/hostname').length >= 3);
    expect(of(pod).filter((r) => r.type === 'open' && r.path.startsWith('/proc/'))).toEqual([]);
    expect(p.receiverStats().open.filtered).toBeGreaterThanOrEqual(3);
  }, 120_000);

  test('rate_limit.per_container 300: a pod opening 3,000 files gets about the limit through, the rest counted rate_limited; its throttle is marked; another pod is unaffected', async () => {
    p = await start({ containers_only: true, rate_limit: { per_container: 300, burst: 0 } });
    const calm = await runPod('calm', 'shop', LOOP('/etc/hostname'));
    await p.waitFor("the calm pod's first open", () => opensOf(calm, '/etc/hostname').length > 0);
    const calmFirstAt = Date.now();
    // After the loop, a quiet spell refills the bucket: the next record (the cat) ends the throttle.
    const busy = await runPod('busy', 'shop', [
      '/bin/sh',
      '-c',
      'sleep 1; i=0; while [ $i -lt 3000 ]; do : < /etc/hostname; i=$((i+1)); done; sleep 2; /bin/cat /etc/hostname; sleep 100000',
    ]);
    const throttle = await p.waitFor('throttle start of the busy pod', () => of(busy).find((r) => r.type === 'throttle'), 30_000);
    const started = Date.now();
    const calmBefore = opensOf(calm, '/etc/hostname').length;
    // The calm pod's own pace before the burst (nominally 5 opens a second, slower on a loaded host).
    const calmPerSecond = (calmBefore - 1) / ((started - calmFirstAt) / 1000);
    const stop = await p.waitFor('throttle stop of the busy pod', () => of(busy).filter((r) => r.type === 'throttle')[1], 30_000);
    const seconds = (Date.now() - started) / 1000;
    // The cat's own open after the stop is not part of the loop.
    const through = opensOf(busy, '/etc/hostname').length - 1;
    expect(throttle.container?.id).toBe(busy.containerId);
    expect(stop.container?.id).toBe(busy.containerId);
    // The burst (1 s worth) plus the refill while it ran, and a few for lock-free races.
    expect(through).toBeLessThanOrEqual(Math.ceil(300 + 300 * seconds) + 30);
    expect(through).toBeGreaterThanOrEqual(250);
    expect(p.receiverStage.dropped.get('rate_limited') ?? 0).toBeGreaterThanOrEqual(3000 - through - 50);
    // The calm pod kept its pace throughout (a shared limit would have let through a fraction of it).
    await sleep(1000);
    expect(calmPerSecond).toBeGreaterThan(2);
    expect(opensOf(calm, '/etc/hostname').length - calmBefore).toBeGreaterThanOrEqual(Math.floor(0.7 * calmPerSecond * (seconds + 1)));
  }, 120_000);
});
