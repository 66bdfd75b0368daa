import { existsSync, readFileSync } from 'node:fs';
import { addonError } from '../../src/native';

/**
 * Why BPF tests cannot run here, or undefined when they can. Tests that need
 * BPF skip LOUDLY with this reason, never silently.
 */
export function bpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (BPF needs CAP_BPF + CAP_PERFMON; run the tests as root)';
  const addon = addonError();
  if (addon) return addon;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux missing)';
  if (!readFileSync('/proc/mounts', 'utf8').includes(' /sys/fs/bpf bpf ')) return 'bpffs not mounted at /sys/fs/bpf (run scripts/setup.sh)';
  return undefined;
}

/** `describe` that skips with a console.warn naming the reason. */
export function describeBpf(name: string, body: () => void): void {
  const reason = bpfUnavailable();
  if (reason) {
    describe(name, () => {
      it.skip(`skipped: ${reason}`, () => undefined);
    });
    console.warn(`SKIPPED ${name}: ${reason}`);
    return;
  }
  describe(name, body);
}
