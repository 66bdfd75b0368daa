import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { bootTimeNs, openBpfSession, probePrograms, BREAK_PROGRAMS_ENV } from '../../src/native';
import { BootClock, type CgroupChange, EventBatch } from '../../src/events';
import { detectContainerHierarchy } from '../../src/host/cgroups';
import { ebpfReceiverFactory } from '../../src/receivers/ebpf';
import type { EbpfReceiverConfig } from '../../src/receivers/ebpf';
import { mergeDefaults } from '../../src/pipeline/config';
import { Collector, testSettings } from './collector';
import { promtoolCheckMetrics } from '../harness/prometheus';
import { requires } from '../harness/requires';

function receiverConfig(overrides: Partial<Record<keyof EbpfReceiverConfig, unknown>> = {}): EbpfReceiverConfig {
  return mergeDefaults(ebpfReceiverFactory.createDefaultConfig(), {
    ring_buffer_size: '4MiB',
    ...overrides,
  });
}

function mntnsOf(pid: number | 'self'): number {
  return Number(execFileSync('stat', ['-L', '-c', '%i', `/proc/${pid}/ns/mnt`], { encoding: 'utf8' }).trim());
}

const children = new Set<ChildProcess>();
function start(cmd: string, args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  const child = spawn(cmd, args, { stdio: [stdin, 'ignore', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

requires('bpf').describe('eBPF receiver (real BPF on this kernel)', () => {
  const collector = new Collector();
  const settings = testSettings('receivers.ebpf');
  const receiver = ebpfReceiverFactory.create(receiverConfig(), settings, collector);
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'eco-ebpf-'));
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees `unshare -m sleep 30` exec in its own mount namespace, with comm, filename, args and pid', async () => {
    // Long enough to outlive the record's delivery on a loaded machine: the namespace is read from the live process.
    const child = start('unshare', ['-m', 'sleep', '30']);
    const pid = collector.track(child.pid);
    const rec = await collector.waitFor('exec of sleep', (r) => r.type === 'exec' && r.tgid === pid && r.comm === 'sleep');
    const expected = mntnsOf(pid); // still sleeping: the namespace is live
    expect(rec.mntns).toBe(expected);
    expect(rec.mntns).not.toBe(mntnsOf('self'));
    expect(rec.pid).toBe(pid);
    expect(rec.ppid).toBe(process.pid);
    expect(path.basename(rec.filename!)).toBe('sleep');
    expect(rec.args).toEqual(['sleep', '30']);
    expect(rec.uid).toBe(0);
    child.kill('SIGKILL');
    await exited(child);
  });

  it('sees the open (openat) of a temp file with its path, read-only flags and a valid fd', async () => {
    const file = path.join(dir, 'opened.txt');
    writeFileSync(file, 'x');
    const child = start('cat', [file]);
    const pid = collector.track(child.pid);
    const rec = await collector.waitFor(`open of ${file}`, (r) => r.type === 'open' && r.tgid === pid && r.path === file);
    expect(rec.ret).toBeGreaterThanOrEqual(0);
    expect(rec.comm).toBe('cat');
    // cat opens read-only (O_RDONLY = 0; libc may add O_LARGEFILE/O_CLOEXEC, never a write mode).
    expect(rec.flags! & 0o3).toBe(0);
    await exited(child);
  });

  it.each([
    ['succeeds', true],
    ['fails with ENOENT', false],
  ])(
    'sees an openat2(2) that %s, with its path, open_how flags and result (python3 calls the syscall: no libc wrapper)',
    async (_name, exists) => {
      const file = path.join(dir, exists ? 'opened-with-openat2.txt' : 'missing-for-openat2.txt');
      if (exists) writeFileSync(file, 'x');
      // openat2 is syscall 437 on x86_64 and arm64 alike; struct open_how { u64 flags, mode, resolve }.
      const script = [
        'import ctypes, os, sys',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'class How(ctypes.Structure): _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]',
        'how = How(os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0, 0)',
        'fd = libc.syscall(437, -100, sys.argv[1].encode(), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))',
        'sys.exit(0 if fd >= 0 else 3 if ctypes.get_errno() == 2 else 1)',
      ].join('\n');
      const child = start('python3', ['-c', script, file]);
      const pid = collector.track(child.pid);
      const code = await new Promise<number | null>((resolve) =>
        child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve),
      );
      expect(code).toBe(exists ? 0 : 3);
      const rec = await collector.waitFor(`openat2 of ${file}`, (r) => r.type === 'open' && r.tgid === pid && r.path === file);
      if (exists) expect(rec.ret).toBeGreaterThanOrEqual(0);
      else expect(rec.ret).toBe(-2);
      // O_NOFOLLOW | O_CLOEXEC (0o400000 | 0o2000000 on x86_64 and arm64), O_RDONLY = 0.
      expect(rec.flags).toBe(0o400000 | 0o2000000);
      expect(rec.comm).toMatch(/^python3/);
    },
  );

  it.each([
    ['IPv4', '127.0.0.1', 2],
    ['IPv6', '::1', 10],
  ])('sees a %s connect to a local listener with address and port', async (_name, host, family) => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const script = `require('net').connect(${port}, '${host}').on('connect', function () { this.destroy(); }).on('error', () => process.exit(1))`;
      const child = start(process.execPath, ['-e', script]);
      const pid = collector.track(child.pid);
      const rec = await collector.waitFor(`connect to ${host}:${port}`, (r) => r.type === 'connect' && r.tgid === pid && r.port === port);
      expect(rec.family).toBe(family);
      expect(rec.address).toBe(host);
      expect(rec.sockType).toBe(1); // SOCK_STREAM
      expect([0, -115]).toContain(rec.ret); // connected, or EINPROGRESS (non-blocking socket)
      await exited(child);
    } finally {
      server.close();
    }
  });

  it("sees `sh -c 'exit 7'` exit with code 7, stamped with CLOCK_BOOTTIME", async () => {
    const before = bootTimeNs();
    const child = start('sh', ['-c', 'exit 7']);
    const pid = collector.track(child.pid);
    const rec = await collector.waitFor('exit of sh', (r) => r.type === 'exit' && r.tgid === pid);
    expect(rec.exitCode).toBe(7);
    expect(rec.tsBootNs).toBeGreaterThan(before);
    expect(rec.tsBootNs).toBeLessThan(bootTimeNs());
    // Boot time → Unix epoch: the same instant as the wall clock, give or take scheduling.
    const ageMs = Date.now() - Number(rec.timeUnixNs / 1_000_000n);
    expect(ageMs).toBeGreaterThanOrEqual(-5);
    expect(ageMs).toBeLessThan(10_000);
    await exited(child);
  });

  requires('promtool').test('counts what it received, passes batches on, and exposes the BPF counters as Prometheus metrics', async () => {
    // `sent` is counted by the service's wrapper around `next`, which this test does not use.
    expect(settings.stage.received).toBeGreaterThan(0);
    expect(collector.batches).toBeGreaterThan(0);
    expect(settings.stage.dropped.get('decode_error')).toBeUndefined();
    const text = await settings.metrics.metrics();
    expect(text).toMatch(/ebpf_container_otel_bpf_events_produced_total\{component="receivers.ebpf",event="exec"\} [1-9]/);
    expect(text).toMatch(/ebpf_container_otel_bpf_program_loaded\{component="receivers.ebpf",program="handle_exec",event="exec"\} 1/);
    expect(text).toContain('ebpf_container_otel_bpf_events_dropped_total');
    expect(text).toContain('ebpf_container_otel_bpf_events_filtered_total');
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, out: '' });
  });

  it('does not trace its own process (exclude_self)', async () => {
    const file = path.join(dir, 'self-open.txt');
    writeFileSync(file, 'x');
    const marker = start('sh', ['-c', 'exit 0']);
    const markerPid = collector.track(marker.pid);
    collector.track(process.pid);
    await collector.waitFor('exit of the marker', (r) => r.type === 'exit' && r.tgid === markerPid);
    expect(collector.records.filter((r) => r.tgid === process.pid)).toEqual([]);
  });
});

requires('bpf').describe(
  "eBPF receiver: containers-only passes processes outside the host's mount namespace, decided in the kernel",
  () => {
    it("passes a process from its first exec in a new mount namespace, and counts the host's as filtered", async () => {
      let mntns = 0;
      let outsidePid = 0;
      const collector = new Collector(true);
      const settings = testSettings('receivers.ebpf/containers');
      const receiver = ebpfReceiverFactory.create(
        receiverConfig({ events: ['exec', 'exit'], filters: { containers_only: true } }),
        settings,
        collector,
      );
      await receiver.start();
      try {
        // The "container": a process in its own mount namespace; no map or user space has heard of it.
        const inside = start('unshare', ['-m', 'sh', '-c', '/bin/true; exit 3']);
        const insidePid = collector.track(inside.pid);
        const outside = start('sh', ['-c', '/bin/true; exit 4']);
        outsidePid = collector.track(outside.pid);
        await exited(outside);
        const exit = await collector.waitFor('exit of the contained sh', (r) => r.type === 'exit' && r.tgid === insidePid);
        expect(exit.exitCode).toBe(3);
        mntns = exit.mntns;
        // unshare exec's sh right after unshare(2): the very first exec in the new namespace passes.
        await collector.waitFor('exec of sh inside', (r) => r.type === 'exec' && r.mntns === mntns && r.comm === 'sh');
        await collector.waitFor('exec of /bin/true inside', (r) => r.type === 'exec' && r.mntns === mntns && r.comm === 'true');

        const stats = (receiver as unknown as { stats(): { exec: { filtered: number }; exit: { filtered: number } } }).stats();
        expect(stats.exec.filtered + stats.exit.filtered).toBeGreaterThan(0);
      } finally {
        await receiver.shutdown();
      }
      // shutdown() handed over everything left in the ring: nothing from outside can still arrive.
      expect(mntns).not.toBe(mntnsOf('self'));
      expect(collector.records.filter((r) => r.mntns === mntnsOf('self'))).toEqual([]);
      expect(collector.records.filter((r) => r.tgid === outsidePid)).toEqual([]);
    });
  },
);

requires('bpf').describe('eBPF receiver: cgroups of the container hierarchy, as they are made and removed', () => {
  const hierarchy = detectContainerHierarchy();
  const name = `eco-test-${process.pid}`;
  const dir = path.join(hierarchy.mountPath, name);
  afterAll(() => rmSync(dir, { recursive: false, force: true }));

  it('announces the cgroup (id = its inode, path from the root) before a process in it runs, whose records carry that id', async () => {
    const changes: CgroupChange[] = [];
    const collector = new Collector();
    const consumer = { consumeLogs: (b: EventBatch) => (changes.push(...b.cgroupChanges), collector.consumeLogs(b)) };
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({ events: ['exec', 'exit'] }),
      testSettings('receivers.ebpf/cgroups'),
      consumer,
    );
    await receiver.start();
    let id = 0;
    try {
      mkdirSync(dir);
      id = statSync(dir).ino;
      // A shell that moves itself into the cgroup, then execs: its records carry the cgroup's id.
      const child = start('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec /bin/true`]);
      const pid = collector.track(child.pid);
      await exited(child);
      const exec = await collector.waitFor(
        'exec of /bin/true in the cgroup',
        (r) => r.type === 'exec' && r.tgid === pid && r.comm === 'true',
      );
      expect(exec.cgroupId).toBe(id);
      rmdirSync(dir);
      for (let waited = 0; !changes.some((c) => c.kind === 'rmdir' && c.cgroupId === id); waited += 10) {
        if (waited > 5000)
          throw new Error(
            `no rmdir record for cgroup ${id} within 5 s; changes: ${JSON.stringify(changes, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await receiver.shutdown();
    }
    const mine = changes.filter((c) => c.cgroupId === id);
    expect(mine.map(({ kind, path: p, hierarchyId }) => ({ kind, path: p, hierarchyId }))).toEqual([
      { kind: 'mkdir', path: `/${name}`, hierarchyId: hierarchy.hierarchyId },
      { kind: 'rmdir', path: `/${name}`, hierarchyId: hierarchy.hierarchyId },
    ]);
    // Cgroup records are never event records.
    expect(collector.records.every((r) => ['exec', 'exit'].includes(r.type))).toBe(true);
  });
});

/**
 * Python, forking cheaply: makes cgroups `<root>/<tag>-<i>` one after another, runs a process in
 * each that opens `opens[i]` missing paths under `prefix`, and removes it. All inside one
 * spawnSync, so the receiver cannot drain until it is over.
 */
const CGROUP_CHURN = `
import errno, os, sys, time
root, tag, prefix, opens = sys.argv[1], sys.argv[2], sys.argv[3], [int(n) for n in sys.argv[4].split(',')]
def remove(cg):
    for _ in range(500):
        try:
            return os.rmdir(cg)
        except OSError as e:
            if e.errno != errno.EBUSY: raise
            time.sleep(0.01)
    os.rmdir(cg)
for i, n in enumerate(opens):
    cg = '%s/%s-%d' % (root, tag, i)
    os.mkdir(cg)
    pid = os.fork()
    if pid == 0:
        with open(cg + '/cgroup.procs', 'w') as f: f.write(str(os.getpid()))
        for k in range(n):
            try: os.open('%s/%d' % (prefix, k), os.O_RDONLY)
            except OSError: pass
        os._exit(0)
    os.waitpid(pid, 0)
    remove(cg)
`;

requires('bpf', 'python3').describe('eBPF receiver: cgroup records have a ring buffer of their own', () => {
  const hierarchy = detectContainerHierarchy();
  const tag = `eco-cgring-${process.pid}`;
  // Opens of missing paths under this prefix only (filters.open): no other process on this host fills the events ring.
  const prefix = `/nonexistent-${tag}`;
  afterAll(() => {
    for (const name of readdirSync(hierarchy.mountPath)) if (name.startsWith(`${tag}-`)) rmdirSync(path.join(hierarchy.mountPath, name));
  });

  /** A receiver of open events under `prefix`, whose batches are kept in order: their cgroup changes and records. */
  async function startReceiver(name: string, ringBufferSize: string | number, maxRecords = 8192) {
    const batches: Array<{ changes: CgroupChange[]; records: Array<{ cgroupId: number; path: string }> }> = [];
    const settings = testSettings(`receivers.ebpf/${name}`);
    const consumer = {
      async consumeLogs(b: EventBatch): Promise<void> {
        const records = [];
        for (let i = 0; i < b.length; i++)
          if (b.openPath(i).startsWith(prefix)) records.push({ cgroupId: b.cgroupId(i), path: b.openPath(i) });
        batches.push({ changes: b.cgroupChanges.filter((c) => c.path.startsWith(`/${tag}-`)), records });
      },
    };
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({
        events: ['open'],
        ring_buffer_size: ringBufferSize,
        filters: { open: { include_path_prefixes: [prefix] } },
        batch: { max_records: maxRecords, max_in_flight: 100_000 },
      }),
      settings,
      consumer,
    );
    await receiver.start();
    return { receiver, settings, batches };
  }

  function churn(opens: number[]): void {
    const r = spawnSync('python3', ['-c', CGROUP_CHURN, hierarchy.mountPath, tag, prefix, opens.join(',')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cgroup churn failed (${r.status}): ${r.stderr}`);
  }

  function droppedOf(metrics: string, component: string, event: string): number {
    const m = new RegExp(`ebpf_container_otel_bpf_events_dropped_total\\{component="${component}",event="${event}"\\} (\\d+)`).exec(
      metrics,
    );
    if (!m) throw new Error(`no dropped counter for ${event} in:\n${metrics}`);
    return Number(m[1]);
  }

  it("while a full events ring drops events, delivers every mkdir and rmdir, each mkdir no later than its cgroup's first events", async () => {
    // One page: the first cgroup's flood of opens fills it long before the drain, which the spawnSync holds off.
    // Batches of 8 records: the 40 cgroup records and the events that fit take several, so their order shows.
    const { receiver, settings, batches } = await startReceiver('cgring-full-events', 4096, 8);
    const cgroups = 20;
    let metrics: string;
    try {
      churn([2000, ...new Array<number>(cgroups - 1).fill(5)]);
      metrics = await settings.metrics.metrics();
    } finally {
      await receiver.shutdown();
    }
    expect(droppedOf(metrics, 'receivers.ebpf/cgring-full-events', 'open')).toBeGreaterThan(0);
    expect(settings.stage.dropped.get('ringbuf')).toBeGreaterThan(0);
    expect(droppedOf(metrics, 'receivers.ebpf/cgring-full-events', 'cgroup_mkdir')).toBe(0);
    expect(droppedOf(metrics, 'receivers.ebpf/cgring-full-events', 'cgroup_rmdir')).toBe(0);

    const changes = batches.flatMap((b, batch) => b.changes.map((c) => ({ ...c, batch })));
    expect(changes.map((c) => `${c.kind} ${c.path}`)).toEqual(
      Array.from({ length: cgroups }, (_, i) => [`mkdir /${tag}-${i}`, `rmdir /${tag}-${i}`]).flat(),
    );
    const madeIn = new Map(changes.filter((c) => c.kind === 'mkdir').map((c) => [c.cgroupId, c.batch]));
    expect(changes.filter((c) => c.kind === 'rmdir').every((c) => madeIn.has(c.cgroupId))).toBe(true);
    // The ring took the first cgroup's first opens before it filled: there are events to order.
    const records = batches.flatMap((b, batch) => b.records.map((r) => ({ ...r, batch })));
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThan(2000);
    for (const r of records) {
      const made = madeIn.get(r.cgroupId);
      if (made === undefined || made > r.batch)
        throw new Error(`open of ${r.path} (cgroup ${r.cgroupId}) in batch ${r.batch}, its cgroup's mkdir in batch ${made}`);
    }
  });

  it('counts a full cgroup ring as cgroup drops of its own, and the events ring loses nothing meanwhile', async () => {
    const { receiver, settings, batches } = await startReceiver('cgring-full-cgroups', '4MiB');
    // 1,000 cgroups made and removed at once: 2,000 records of 600 bytes (with the ring's header) overflow 1 MiB.
    const cgroups = 1000;
    let metrics: string;
    try {
      churn(new Array<number>(cgroups).fill(0).fill(3, cgroups - 10));
      metrics = await settings.metrics.metrics();
    } finally {
      await receiver.shutdown();
    }
    const component = 'receivers.ebpf/cgring-full-cgroups';
    const cgroupDropped = droppedOf(metrics, component, 'cgroup_mkdir') + droppedOf(metrics, component, 'cgroup_rmdir');
    const delivered = batches.reduce((n, b) => n + b.changes.length, 0);
    expect(cgroupDropped).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(2 * cgroups);
    // Of ours, every one arrived or was counted (others' cgroups may have been dropped too).
    expect(delivered + cgroupDropped).toBeGreaterThanOrEqual(2 * cgroups);
    expect(droppedOf(metrics, component, 'open')).toBe(0);
    expect(batches.reduce((n, b) => n + b.records.length, 0)).toBe(30);
    // Cgroup records are not event records: their loss is no stage drop.
    expect(settings.stage.dropped.get('ringbuf')).toBeUndefined();
  });
});

requires('bpf').describe('eBPF receiver: one program that cannot load leaves the others working', () => {
  it('reports the refused and disabled programs and still delivers the other event types', async () => {
    const collector = new Collector();
    const session = openBpfSession(
      { events: ['exec', 'exit', 'open'], ringBufferSize: 1 << 20, breakPrograms: ['handle_exec'], disablePrograms: ['enter_openat2'] },
      () => undefined,
    );
    const status = session.programs();
    session.close();
    expect(status.find((p) => p.program === 'handle_exec')).toMatchObject({ loaded: false, reason: expect.stringMatching(/^load failed/) });
    expect(status.find((p) => p.program === 'enter_openat2')).toMatchObject({
      loaded: false,
      reason: expect.stringMatching(/disabled by config/),
    });
    expect(status.find((p) => p.program === 'exit_openat2')).toMatchObject({
      loaded: false,
      reason: expect.stringMatching(/pair enter_openat2/),
    });
    expect(status.find((p) => p.program === 'enter_connect')).toMatchObject({
      loaded: false,
      reason: expect.stringMatching(/event type connect not enabled/),
    });
    expect(
      status
        .filter((p) => p.loaded)
        .map((p) => p.program)
        .sort(),
    ).toEqual(['enter_openat', 'exit_openat', 'handle_cgroup_mkdir', 'handle_cgroup_rmdir', 'handle_exit']);

    // The same fault through the environment, as `doctor` and the CLI would see it.
    process.env[BREAK_PROGRAMS_ENV] = 'handle_exec';
    const settings = testSettings('receivers.ebpf/broken');
    try {
      const receiver = ebpfReceiverFactory.create(receiverConfig({ events: ['exec', 'exit'] }), settings, collector);
      await receiver.start();
      try {
        const child = start('sh', ['-c', 'exit 5']);
        const pid = collector.track(child.pid);
        const rec = await collector.waitFor('exit of sh', (r) => r.type === 'exit' && r.tgid === pid);
        expect(rec.exitCode).toBe(5);
        expect(collector.records.filter((r) => r.type === 'exec')).toEqual([]);
        const text = await settings.metrics.metrics();
        expect(text).toMatch(/program_loaded\{component="receivers.ebpf\/broken",program="handle_exec",event="exec"\} 0/);
      } finally {
        await receiver.shutdown();
      }
      // What `doctor` shows: the same refusal, with the kernel's reason.
      const probed = probePrograms({ events: ['exec', 'exit'] });
      expect(probed.find((p) => p.program === 'handle_exec')).toMatchObject({
        loaded: false,
        reason: expect.stringMatching(/^load failed/),
      });
      expect(probed.find((p) => p.program === 'handle_exit')).toMatchObject({ loaded: true, reason: '' });
    } finally {
      delete process.env[BREAK_PROGRAMS_ENV];
    }
  });
});

requires('bpf').describe('eBPF session lifecycle', () => {
  it('can be closed from inside its batch callback, and close() is idempotent', async () => {
    let calls = 0;
    const session = openBpfSession({ events: ['open'], ringBufferSize: 1 << 20, drainIntervalMs: 1 }, () => {
      calls++;
      session.close();
      session.close();
    });
    // Something on this busy host opens files; make sure of it.
    spawnSync('cat', ['/etc/hostname']);
    const deadline = Date.now() + 5000;
    while (calls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(calls).toBe(1);
    spawnSync('cat', ['/etc/hostname']);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1);
    expect(() => session.stats()).toThrow(/after close/);
  });
});

requires('bpf').describe('eBPF session: the drain finds the records for JavaScript', () => {
  it("writes each event record's offset at the end of the batch Buffer: the records EventBatch.parse finds, in order", async () => {
    const clock = new BootClock();
    const seen: Array<{ parsed: number[]; drained: number[]; changes: [number, number]; malformed: [number, number] }> = [];
    const session = openBpfSession({ events: ['exec', 'exit', 'open'], ringBufferSize: 1 << 20 }, (batch, backing, cgroupBytes, events) => {
      const parsed = EventBatch.parse(batch, clock);
      const drained = EventBatch.fromDrain(batch, backing, cgroupBytes, events, clock);
      seen.push({
        parsed: Array.from(parsed.batch.offsets),
        drained: Array.from(drained.batch.offsets),
        changes: [parsed.batch.cgroupChanges.length, drained.batch.cgroupChanges.length],
        malformed: [parsed.malformed, drained.malformed],
      });
    });
    try {
      // Execs, exits and opens of several sizes (paths of different lengths).
      for (let i = 0; i < 20; i++) spawnSync('cat', [`/etc/hostname`, `/nonexistent/${'x'.repeat(i * 7)}`]);
      const deadline = Date.now() + 5000;
      while (seen.reduce((n, b) => n + b.drained.length, 0) < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      session.close();
    }
    expect(seen.reduce((n, b) => n + b.drained.length, 0)).toBeGreaterThanOrEqual(60);
    expect(seen.some((b) => b.drained.length > 1)).toBe(true);
    for (const b of seen) {
      expect(b.drained).toEqual(b.parsed);
      expect(b.changes[1]).toBe(b.changes[0]);
      expect(b.malformed).toEqual([0, 0]);
    }
  });
});

requires('bpf').describe('eBPF receiver: bounded memory, counted losses', () => {
  /** A child that opens a missing path `n` times in a tight loop: a burst of open events. */
  function openBurst(n: number): number {
    const r = spawnSync(process.execPath, [
      '-e',
      `const fs=require('fs');for(let i=0;i<${n};i++){try{fs.openSync('/nonexistent/eco-burst')}catch{}}`,
    ]);
    if (r.status !== 0) throw new Error(`burst child failed: ${r.stderr}`);
    return r.pid!;
  }

  it('counts ring-buffer overflow as ringbuf drops (kernel counters → stage and metrics)', async () => {
    const settings = testSettings('receivers.ebpf/tiny-ring');
    // One page of ring drained once a second: a burst of opens cannot fit.
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({ events: ['open'], ring_buffer_size: 4096, batch: { drain_interval: '1s' } }),
      settings,
      new Collector(),
    );
    await receiver.start();
    try {
      openBurst(2000);
      const text = await settings.metrics.metrics();
      const m = /ebpf_container_otel_bpf_events_dropped_total\{component="receivers.ebpf\/tiny-ring",event="open"\} (\d+)/.exec(text);
      expect(Number(m?.[1])).toBeGreaterThan(0);
    } finally {
      await receiver.shutdown();
    }
    expect(settings.stage.dropped.get('ringbuf')).toBeGreaterThan(0);
  });

  it('hands downstream batches of at most batch.max_records records, losing none of a burst', async () => {
    const settings = testSettings('receivers.ebpf/small-batches');
    const sizes: number[] = [];
    let burstOpens = 0;
    let burstPid = -1;
    const counting = {
      async consumeLogs(batch: EventBatch): Promise<void> {
        sizes.push(batch.length);
        for (let i = 0; i < batch.length; i++) if (batch.tgid(i) === burstPid) burstOpens++;
      },
    };
    // Drained once every 200 ms, a burst of 500 opens is in the ring at once: the addon must cut it.
    // Only the burst's path: another process's flood (a benchmark on this host) would fill the ring.
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({
        events: ['open'],
        filters: { open: { include_path_prefixes: ['/nonexistent/eco-burst'] } },
        batch: { max_records: 16, max_in_flight: 1000, drain_interval: '200ms' },
      }),
      settings,
      counting,
    );
    await receiver.start();
    try {
      burstPid = openBurst(500);
      const deadline = Date.now() + 5000;
      while (burstOpens < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await receiver.shutdown();
    }
    expect(burstOpens).toBeGreaterThanOrEqual(500);
    expect(Math.max(...sizes)).toBe(16);
    expect(settings.stage.dropped.size).toBe(0);
  });

  it('keeps at most batch.max_in_flight batches downstream and counts the rest as queue_full', async () => {
    const settings = testSettings('receivers.ebpf/slow');
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const slow = {
      async consumeLogs(batch: EventBatch): Promise<void> {
        // A batch carrying cgroup changes is never shed (attribution depends on them): containers
        // other tests or programs start meanwhile must not count against the cap under test.
        if (batch.cgroupChanges.length > 0) return;
        calls++;
        await gate;
      },
    };
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({ events: ['open'], batch: { max_records: 16, max_in_flight: 2, drain_interval: '1ms' } }),
      settings,
      slow,
    );
    await receiver.start();
    try {
      openBurst(500);
      const deadline = Date.now() + 5000;
      // A cgroup batch holds its slot until its promise settles: a batch may be shed before the second call.
      const capped = () => calls === 2 && (settings.stage.dropped.get('queue_full') ?? 0) > 0;
      while (!capped() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(calls).toBe(2);
      expect(settings.stage.dropped.get('queue_full')).toBeGreaterThan(0);
      const text = await settings.metrics.metrics();
      expect(text).toContain('ebpf_container_otel_ebpf_receiver_batches_in_flight{component="receivers.ebpf/slow"} 2');
    } finally {
      release();
      await receiver.shutdown();
    }
  });
});

requires('bpf').describe('eBPF receiver: pid and comm deny lists (kernel-side)', () => {
  it('drops denied pids and process names in the kernel and counts them as filtered', async () => {
    const denied = start('sh', ['-c', 'read line; exit 6'], 'pipe');
    const collector = new Collector();
    const settings = testSettings('receivers.ebpf/deny');
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({ events: ['exec', 'exit'], filters: { deny_pids: [denied.pid], deny_comms: ['true'] } }),
      settings,
      collector,
    );
    await receiver.start();
    try {
      const deniedPid = collector.track(denied.pid);
      const byName = start('/bin/true', []);
      const byNamePid = collector.track(byName.pid);
      denied.stdin!.end('go\n');
      await Promise.all([exited(denied), exited(byName)]);
      // The ring is FIFO: once this later exit arrives, the denied ones would have arrived before it.
      const allowed = start('sh', ['-c', 'exit 9']);
      const allowedPid = collector.track(allowed.pid);
      const rec = await collector.waitFor('exit of the allowed sh', (r) => r.type === 'exit' && r.tgid === allowedPid);
      expect(rec.exitCode).toBe(9);
      expect(collector.records.filter((r) => r.tgid === deniedPid)).toEqual([]);
      expect(collector.records.filter((r) => r.tgid === byNamePid && r.comm === 'true')).toEqual([]);
      const stats = (receiver as unknown as { stats(): { exec: { filtered: number }; exit: { filtered: number } } }).stats();
      expect(stats.exec.filtered).toBeGreaterThan(0);
      expect(stats.exit.filtered).toBeGreaterThan(0);
    } finally {
      await receiver.shutdown();
    }
  });

  it('a list longer than the programs compare inline (4 pids) goes to the hash: still dropped in the kernel', async () => {
    const denied = start('sh', ['-c', 'read line; exit 6'], 'pipe');
    const collector = new Collector();
    const settings = testSettings('receivers.ebpf/deny-many');
    // Pids that are surely free (above pid_max's default) ahead of the real one, with exclude_self: 7 in all.
    const others = [4194305, 4194306, 4194307, 4194308, 4194309];
    const receiver = ebpfReceiverFactory.create(
      receiverConfig({ events: ['exec', 'exit'], filters: { deny_pids: [...others, denied.pid] } }),
      settings,
      collector,
    );
    await receiver.start();
    try {
      const deniedPid = collector.track(denied.pid);
      denied.stdin!.end('go\n');
      await exited(denied);
      const allowed = start('sh', ['-c', 'exit 9']);
      const allowedPid = collector.track(allowed.pid);
      await collector.waitFor('exit of the allowed sh', (r) => r.type === 'exit' && r.tgid === allowedPid);
      expect(collector.records.filter((r) => r.tgid === deniedPid)).toEqual([]);
      const stats = (receiver as unknown as { stats(): { exit: { filtered: number } } }).stats();
      expect(stats.exit.filtered).toBeGreaterThan(0);
    } finally {
      await receiver.shutdown();
    }
  });
});
