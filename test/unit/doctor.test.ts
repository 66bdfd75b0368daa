import { execFileSync, spawnSync } from 'node:child_process';
import { checkCapabilities, checkKernel, checkMount, checkTracepoints, runChecks } from '../../src/doctor/checks';
import { BREAK_PROGRAMS_ENV } from '../../src/native';
import { CLI, NODE } from '../harness/paths';
import { requires } from '../harness/requires';

describe('doctor checks', () => {
  it('reads capabilities from CapEff', () => {
    // CAP_SYS_ADMIN (21) only: BPF still works through it, so missing CAP_BPF is a warning.
    const adminOnly = checkCapabilities('CapEff:\t0000000000200000\n', 0);
    expect(adminOnly.find((c) => c.check === 'capability CAP_SYS_ADMIN')?.status).toBe('ok');
    expect(adminOnly.find((c) => c.check === 'capability CAP_BPF')?.status).toBe('warn');
    const none = checkCapabilities('CapEff:\t0000000000000000\n', 1000);
    expect(none.find((c) => c.check === 'root')?.status).toBe('warn');
    expect(none.find((c) => c.check === 'capability CAP_BPF')).toMatchObject({ status: 'fail', fix: expect.stringContaining('CAP_BPF') });
  });

  it('fails kernels older than 5.13 (ring buffer, BTF task pointer, task storage from tracepoints)', () => {
    expect(checkKernel('5.4.0-150-generic').status).toBe('fail');
    expect(checkKernel('5.10.0-30-amd64').status).toBe('fail');
    expect(checkKernel('5.15.0-100-generic').status).toBe('ok');
    expect(checkKernel('6.18.44').status).toBe('ok');
  });

  it('finds bpffs and tracefs in a mounts table and says how to mount them', () => {
    const mounts = 'bpf /sys/fs/bpf bpf rw 0 0\nproc /proc proc rw 0 0\n';
    expect(checkMount(mounts, 'bpf', ['/sys/fs/bpf'], 'mount it').status).toBe('ok');
    expect(checkMount(mounts, 'tracefs', ['/sys/kernel/tracing'], 'mount it')).toMatchObject({ status: 'fail', fix: 'mount it' });
    expect(checkTracepoints(mounts).status).toBe('fail');
  });

  it('runs every check on this machine', async () => {
    const results = await runChecks();
    const names = results.map((r) => r.check);
    for (const expected of [
      'root',
      'capability CAP_BPF',
      'capability CAP_PERFMON',
      'capability CAP_SYS_ADMIN',
      'kernel version',
      'kernel BTF',
      'bpf mounted',
      'tracefs mounted',
      'tracepoints',
      'ring buffer',
      'runtime socket containerd',
      'runtime socket docker',
      'runtime socket podman',
      'runtime socket cri',
    ]) {
      expect(names).toContain(expected);
    }
    for (const r of results) {
      expect(['ok', 'warn', 'fail']).toContain(r.status);
      if (r.status !== 'ok') expect(r.fix.length).toBeGreaterThan(0);
    }
  });
});

describe('doctor otlp encoder line', () => {
  const encoderLine = async (otlpEncoderError?: () => string | undefined) =>
    (await runChecks({ otlpEncoderError })).find((r) => r.check === 'otlp encoder addon');

  it('is ok when the encoder addon loads, a fail naming why and the fix otherwise, absent when not asked', async () => {
    expect(await encoderLine(() => undefined)).toMatchObject({ status: 'ok', fix: '' });
    expect(await encoderLine(() => 'native addon not built: run npm run build:addon (/x/otlp_logs.node is missing)')).toMatchObject({
      status: 'fail',
      detail: 'native addon not built: run npm run build:addon (/x/otlp_logs.node is missing)',
      fix: 'run npm run build:addon (scripts/setup.sh does)',
    });
    expect(await encoderLine()).toBeUndefined();
  });
});

describe('doctor ring buffer line', () => {
  const ringLine = async (probeRingBuffer?: () => { supported: boolean; error: string }, addonError?: string) =>
    (await runChecks({ probeRingBuffer, addonError })).find((r) => r.check === 'ring buffer');

  it('is ok when a BPF_MAP_TYPE_RINGBUF map can be created, and a fail with its fix otherwise', async () => {
    expect(await ringLine(() => ({ supported: true, error: '' }))).toMatchObject({ status: 'ok', fix: '' });
    expect(await ringLine(() => ({ supported: false, error: '' }))).toMatchObject({
      status: 'fail',
      detail: 'this kernel has no BPF_MAP_TYPE_RINGBUF (added in 5.8); the BPF programs report every event through one',
      fix: 'run on kernel 5.13 or newer',
    });
    // EPERM is a missing privilege, never a missing kernel feature: the fix names the cause from this process's capabilities and seccomp mode.
    expect(await ringLine(() => ({ supported: false, error: 'Operation not permitted' }))).toMatchObject({
      status: 'fail',
      detail: 'cannot create a BPF_MAP_TYPE_RINGBUF map: Operation not permitted',
      fix: expect.stringMatching(/^not permitted \(a missing privilege, not a missing kernel feature\): /),
    });
    expect(await ringLine(undefined, 'native addon not built: run npm run build:addon')).toMatchObject({
      status: 'fail',
      detail: 'not probed: native addon not built: run npm run build:addon',
      fix: 'run npm run build:addon (needs clang, libbpf-dev, bpftool: scripts/setup.sh installs them)',
    });
  });
});

describe('doctor BPF program lines', () => {
  const probe = () => [
    {
      program: 'handle_exec',
      event: 'exec',
      loaded: false,
      reason: "load failed (Invalid argument): prog 'handle_exec': BPF program load failed: Invalid argument",
    },
    { program: 'handle_exit', event: 'exit', loaded: true, reason: '' },
    { program: 'enter_openat2', event: 'open', loaded: false, reason: 'attach failed (No such file or directory): tracepoint missing?' },
    { program: 'exit_openat2', event: 'open', loaded: false, reason: 'skipped: its pair enter_openat2 is not running' },
    { program: 'enter_connect', event: 'connect', loaded: false, reason: 'load failed (Operation not permitted): no detail from libbpf' },
  ];
  const line = async (program: string, brokenOnPurpose: string[] = []) =>
    (await runChecks({ probePrograms: probe, brokenOnPurpose })).find((r) => r.check === `bpf program ${program}`)!;

  it('say why a program is off, and blame the kernel only when the kernel refused it', async () => {
    expect(await line('handle_exit')).toMatchObject({ status: 'ok', fix: '' });
    expect((await line('handle_exec')).fix).toMatch(/^exec events are unavailable on this kernel/);
    expect((await line('enter_openat2')).fix).toMatch(/^open events are unavailable on this kernel/);
    expect(await line('exit_openat2')).toMatchObject({ status: 'warn', fix: 'runs only together with enter_openat2: see its line' });
    expect((await line('enter_connect')).fix).toMatch(/^not permitted: .*; connect events are off until then$/);
    expect((await line('enter_connect')).fix).not.toContain('unavailable on this kernel');
  });

  it(`say so when ${BREAK_PROGRAMS_ENV} made the kernel refuse it`, async () => {
    const forced = await line('handle_exec', ['handle_exec']);
    expect(forced.status).toBe('warn');
    expect(forced.detail).toContain(`refused on purpose: ${BREAK_PROGRAMS_ENV} names it`);
    expect(forced.fix).toBe(`unset ${BREAK_PROGRAMS_ENV} (it makes the kernel refuse the programs it names, for tests and demonstrations)`);
  });
});

describe('doctor CLI', () => {
  const realBpf = requires('bpf');

  realBpf.test(`--json with ${BREAK_PROGRAMS_ENV}=handle_exec: handle_exec warns with the kernel's reason, handle_exit is ok`, () => {
    const r = spawnSync(NODE, [CLI, 'doctor', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, [BREAK_PROGRAMS_ENV]: 'handle_exec' },
    });
    const results = JSON.parse(r.stdout) as Array<{ check: string; status: string; detail: string; fix: string }>;
    const exec = results.find((x) => x.check === 'bpf program handle_exec')!;
    expect(exec.status).toBe('warn');
    expect(exec.detail).toMatch(/^skipped: load failed \(Invalid argument\): .*handle_exec.* \(refused on purpose: /);
    expect(exec.fix).toContain(`unset ${BREAK_PROGRAMS_ENV}`);
    expect(exec.fix).not.toContain('unavailable on this kernel');
    expect(results.find((x) => x.check === 'bpf program handle_exit')).toMatchObject({ status: 'ok', fix: '' });
  });

  realBpf.test('probes the ring buffer for real, a line of its own in the text and in --json', () => {
    const text = spawnSync(NODE, [CLI, 'doctor'], { encoding: 'utf8' }).stdout;
    expect(text).toMatch(/^ok {4}ring buffer: BPF_MAP_TYPE_RINGBUF maps can be created/m);
    const json = JSON.parse(spawnSync(NODE, [CLI, 'doctor', '--json'], { encoding: 'utf8' }).stdout) as Array<Record<string, string>>;
    expect(json.find((x) => x.check === 'ring buffer')).toMatchObject({ status: 'ok', fix: '' });
    // The built encoder addon, loaded for real by the CLI.
    expect(json.find((x) => x.check === 'otlp encoder addon')).toMatchObject({ status: 'ok', fix: '' });
  });

  it('--json prints an array of {check, status, detail, fix}', () => {
    let out: string;
    try {
      out = execFileSync(NODE, [CLI, 'doctor', '--json'], { encoding: 'utf8' });
    } catch (err) {
      // exit 1 when a check fails; the JSON is still on stdout
      out = (err as { stdout: string }).stdout;
    }
    const results = JSON.parse(out) as Array<Record<string, unknown>>;
    expect(results.length).toBeGreaterThan(8);
    for (const r of results) expect(Object.keys(r).sort()).toEqual(['check', 'detail', 'fix', 'status']);
    expect(results.find((r) => r.check === 'kernel BTF')?.status).toBe('ok');
  });
});
