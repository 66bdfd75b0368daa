import { execFileSync } from 'node:child_process';
import { checkCapabilities, checkKernel, checkMount, checkTracepoints, runChecks } from '../../src/doctor/checks';
import { CLI, NODE } from '../harness/paths';

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
    for (const expected of ['root', 'capability CAP_BPF', 'capability CAP_PERFMON', 'capability CAP_SYS_ADMIN', 'kernel version', 'kernel BTF', 'bpf mounted', 'tracefs mounted', 'tracepoints', 'runtime socket containerd', 'runtime socket docker', 'runtime socket podman', 'runtime socket cri']) {
      expect(names).toContain(expected);
    }
    for (const r of results) {
      expect(['ok', 'warn', 'fail']).toContain(r.status);
      if (r.status !== 'ok') expect(r.fix.length).toBeGreaterThan(0);
    }
  });
});

describe('doctor CLI', () => {
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
