/**
 * Volume control in the kernel (filters.open, filters.rate_limit, and the
 * container verdicts behind filters.containers) on real BPF: what a filter
 * rejects never reaches user space, and is counted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { detectContainerHierarchy } from '../../src/host/cgroups';
import { mergeDefaults } from '../../src/pipeline/config';
import { ContainerDirectory } from '../../src/pipeline/containers';
import { ebpfReceiverFactory, type EbpfReceiverConfig } from '../../src/receivers/ebpf';
import type { SessionStats } from '../../src/native';
import { Collector, testSettings } from './collector';
import { requires } from '../harness/requires';

function receiverConfig(overrides: Record<string, unknown>): EbpfReceiverConfig {
  return mergeDefaults(ebpfReceiverFactory.createDefaultConfig(), { ring_buffer_size: '4MiB', ...overrides });
}

function run(cmd: string, args: string[]): Promise<number> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.once('exit', () => resolve(child.pid!)).once('spawn', () => undefined));
}

async function withReceiver(
  config: EbpfReceiverConfig,
  body: (c: Collector, stats: () => SessionStats) => Promise<void>,
  directory?: ContainerDirectory,
): Promise<void> {
  const collector = new Collector(true);
  const settings = { ...testSettings('receivers.ebpf/filters'), ...(directory ? { containers: directory } : {}) };
  const receiver = ebpfReceiverFactory.create(config, settings, collector) as unknown as {
    start(): Promise<void>;
    shutdown(): Promise<void>;
    stats(): SessionStats;
  };
  await receiver.start();
  try {
    await body(collector, () => receiver.stats());
  } finally {
    await receiver.shutdown();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

requires('bpf').describe('eBPF receiver: open path prefixes, in the kernel', () => {
  it('exclude_path_prefixes: /proc/ opens never arrive, /etc/ opens do; include_path_prefixes keeps only its own', async () => {
    await withReceiver(
      receiverConfig({ events: ['open', 'exit'], filters: { open: { exclude_path_prefixes: ['/proc/', '/sys/'] } } }),
      async (c, stats) => {
        const pid = await run('sh', ['-c', 'cat /proc/self/status /etc/hostname /sys/kernel/osrelease > /dev/null']);
        await c.waitFor('exit of sh', (r) => r.type === 'exit' && r.tgid === pid);
        const cat = c.records.find((r) => r.type === 'exit' && r.ppid === pid)?.tgid;
        await sleep(50);
        const paths = c.records.filter((r) => r.type === 'open' && r.tgid === cat).map((r) => r.path);
        expect(paths).toContain('/etc/hostname');
        expect(paths.filter((p) => p!.startsWith('/proc/') || p!.startsWith('/sys/'))).toEqual([]);
        expect(stats().open.filtered).toBeGreaterThanOrEqual(2);
      },
    );
    await withReceiver(
      receiverConfig({ events: ['open', 'exit'], filters: { open: { include_path_prefixes: ['/etc/host'] } } }),
      async (c) => {
        const pid = await run('sh', ['-c', 'cat /proc/self/status /etc/hostname /etc/hosts > /dev/null']);
        await c.waitFor('exit of sh', (r) => r.type === 'exit' && r.tgid === pid);
        await sleep(50);
        const paths = c.records.filter((r) => r.type === 'open').map((r) => r.path);
        expect(paths).toEqual(expect.arrayContaining(['/etc/hostname', '/etc/hosts']));
        expect(paths.every((p) => p!.startsWith('/etc/host'))).toBe(true);
      },
    );
  });
});

requires('bpf').describe('eBPF receiver: per-container rate limit, in the kernel', () => {
  it('a container opening 3,000 files in a tight loop gets about the limit through, the rest counted; throttle start and stop are marked; the host is not limited', async () => {
    const limit = 300;
    await withReceiver(
      receiverConfig({ events: ['open', 'exit'], filters: { rate_limit: { per_container: limit } } }),
      async (c, stats) => {
        const started = Date.now();
        // A "container": its own mount namespace (the limit applies outside the host's).
        const pid = await run('unshare', ['-m', 'sh', '-c', 'i=0; while [ $i -lt 3000 ]; do : < /etc/hostname; i=$((i+1)); done']);
        const seconds = (Date.now() - started) / 1000;
        const inside = await c.waitFor('throttle start', (r) => r.type === 'throttle' && r.tgid === pid && r.throttleStarted === true);
        const opens = c.records.filter((r) => r.type === 'open' && r.tgid === pid && r.path === '/etc/hostname').length;
        // The burst (one second's worth) plus the refill over the loop's run time, plus a few for lock-free races.
        expect(opens).toBeLessThanOrEqual(Math.ceil(limit + limit * seconds) + 20);
        expect(opens).toBeGreaterThanOrEqual(limit - 20);
        expect(stats().open.rateLimited).toBeGreaterThanOrEqual(3000 - opens - 50);
        // After a quiet spell long enough to refill the bucket (burst / rate = 1 s), the container's
        // next record ends the throttle, with the count dropped in between.
        await sleep(1100);
        const later = await run('unshare', ['-m', 'cat', '/etc/hostname']);
        // Another container on the host may end a throttle of its own meanwhile: this one's is in our cgroup.
        const stop = await c.waitFor(
          'throttle stop',
          (r) => r.type === 'throttle' && r.throttleStarted === false && r.cgroupId === inside.cgroupId,
        );
        expect(stop.throttleDropped).toBeGreaterThan(1000);
        await c.waitFor('open of the later container', (r) => r.type === 'open' && r.tgid === later && r.path === '/etc/hostname');
        // The host (the agent's mount namespace) is never limited: 3,000 of its opens all arrive.
        const host = await run('sh', ['-c', 'i=0; while [ $i -lt 3000 ]; do : < /etc/hostname; i=$((i+1)); done']);
        await c.waitFor('exit of the host loop', (r) => r.type === 'exit' && r.tgid === host);
        await sleep(50);
        expect(c.records.filter((r) => r.type === 'open' && r.tgid === host && r.path === '/etc/hostname')).toHaveLength(3000);
      },
    );
  });
});

requires('bpf').describe('eBPF receiver: container verdicts (filters.containers), in the kernel', () => {
  const hierarchy = detectContainerHierarchy();
  const dirs = ['traced', 'untraced'].map((n) => path.join(hierarchy.mountPath, `eco-verdict-${process.pid}-${n}`));
  afterAll(() => {
    for (const d of dirs) rmdirSync(d);
  });

  it('an untraced container costs a lookup and sends nothing; a traced one and an undecided one pass', async () => {
    for (const d of dirs) mkdirSync(d);
    const [traced, untraced] = dirs.map((d) => statSync(d).ino);
    const directory = new ContainerDirectory();
    directory.describer = 'test';
    const config = receiverConfig({
      events: ['exec', 'exit'],
      filters: { containers: { include: [{ k8s_namespace: 'shop' }], exclude: [] } },
    });
    await withReceiver(
      config,
      async (c, stats) => {
        const info = (namespace: string) => ({
          id: namespace,
          name: namespace,
          runtime: 'cri' as const,
          state: 'running' as const,
          pid: 0,
          mntns: 0,
          cgroupPath: '',
          image: { name: '', id: '', digest: '' },
          labels: {},
          sandbox: false,
          startedAt: '',
          k8s: { namespace, podName: 'p', podUid: 'u', containerName: 'c', podLabels: {}, podAnnotations: {} },
        });
        expect(directory.described(info('shop'), [traced])).toBe(true);
        expect(directory.described(info('other'), [untraced])).toBe(false);
        const inCgroup = (dir: string) => run('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec /bin/true`]);
        const a = await inCgroup(dirs[0]);
        const b = await inCgroup(dirs[1]);
        const undecided = await run('sh', ['-c', 'exec /bin/true']);
        await c.waitFor('exec of the traced container', (r) => r.type === 'exec' && r.tgid === a && r.comm === 'true');
        await c.waitFor('exec of the undecided process', (r) => r.type === 'exec' && r.tgid === undecided && r.comm === 'true');
        await sleep(50);
        expect(c.records.filter((r) => r.tgid === b && r.comm === 'true')).toEqual([]);
        expect(stats().exec.filtered).toBeGreaterThanOrEqual(1);
        directory.forgotten([traced, untraced]);
      },
      directory,
    );
  });
});
