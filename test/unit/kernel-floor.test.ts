import { kernelFloorRefusal } from '../../src/cli/kernel-floor';
import { checkKernel } from '../../src/doctor/checks';
import type { AgentConfig } from '../../src/pipeline/config';

const config = (...receivers: string[]): AgentConfig => ({
  receivers: Object.fromEntries(receivers.map((r) => [r, {}])),
  processors: {},
  exporters: { file: {} },
  service: { pipelines: { logs: { receivers, processors: [], exporters: ['file'] } } },
});

// `run` on a real old kernel is checked in a 5.10 guest by `npm run test:kernels` (test/vm).
describe('run below the kernel floor', () => {
  it.each(['5.10.0-46-amd64', '5.12.19', '4.19.0-27-amd64'])(
    "refuses %s with one line naming the kernel and 5.13, in doctor's words",
    (release) => {
      const line = kernelFloorRefusal(config('ebpf'), release)!;
      expect(line.split('\n')).toHaveLength(1);
      expect(line).toContain(release);
      expect(line).toContain('5.13');
      const doctor = checkKernel(release);
      expect(doctor.status).toBe('fail');
      expect(line).toBe(`kernel version: ${doctor.detail}; ${doctor.fix}`);
    },
  );

  it.each(['5.13.0', '5.15.0-91-generic', '6.1.0-57-amd64', '6.12.117+deb12-amd64', '10.0.0'])('lets %s run', (release) => {
    expect(kernelFloorRefusal(config('ebpf'), release)).toBeUndefined();
  });

  it('refuses for a named eBPF receiver too, and not for a pipeline without one', () => {
    expect(kernelFloorRefusal(config('ebpf/containers'), '5.10.0-46-amd64')).toMatch(
      /^kernel version: 5\.10\.0-46-amd64 is older than 5\.13/,
    );
    expect(kernelFloorRefusal(config('synthetic'), '5.10.0-46-amd64')).toBeUndefined();
  });
});
