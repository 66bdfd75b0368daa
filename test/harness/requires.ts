/**
 * The one gate for tests that need something of the machine: root, BPF, a daemon's binaries, a
 * file. Where a requirement is truly absent the test is skipped LOUDLY (what is missing and how to
 * get it); under CI=true a requirement CI must have (everything `scripts/setup.sh --test` installs,
 * run as root) fails the run instead, so a broken CI machine cannot pass by skipping.
 *
 *   requires('bpf', 'containerd', 'ctr', 'runc').describe('…', () => { … });
 *   requires('promtool').test('…', async () => { … });
 *   if (requires('dockerd', 'docker').available('Docker in the guest')) { … }
 */
import { existsSync, readFileSync } from 'node:fs';
import { addonError } from '../../src/native';
import { hasProgram } from './procs';

/** A requirement of the machine beyond the named ones and programs on PATH. */
export interface Need {
  /** Why it cannot be used here, with how to get it; undefined when it can. */
  missing(): string | undefined;
  /** Whether a CI machine must have it: then, under CI=true, its absence fails instead of skipping. */
  onCi: boolean;
}

const ROOT: Need = {
  onCi: true,
  missing: () => (process.getuid?.() === 0 ? undefined : 'not root (BPF, mounts and the daemons need it: run the tests as root)'),
};
const ADDON: Need = {
  onCi: true,
  missing: () => {
    const why = addonError();
    return why && `the native addon does not load (${why}; scripts/setup.sh builds it)`;
  },
};
const BPF: Need = {
  onCi: true,
  missing: () => {
    if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux missing)';
    if (!readFileSync('/proc/mounts', 'utf8').includes(' /sys/fs/bpf bpf '))
      return 'bpffs is not mounted at /sys/fs/bpf (scripts/setup.sh mounts it)';
    return undefined;
  },
};

/** `bpf` means everything real BPF programs and maps need: root, the addon, BTF, bpffs. */
const NAMED: Record<string, Need[]> = { root: [ROOT], addon: [ADDON], bpf: [ROOT, ADDON, BPF] };

/** The Debian package of a program whose name does not say it (the hint in a skip message). */
const PACKAGE: Record<string, string> = {
  dockerd: 'docker.io',
  docker: 'docker.io',
  ctr: 'containerd',
  promtool: 'prometheus',
  kubectl: 'kubernetes-client',
  busybox: 'busybox-static',
  unshare: 'util-linux',
  findmnt: 'util-linux',
  systemctl: 'systemd',
};

function program(name: string): Need {
  const pkg = PACKAGE[name] ?? (name.startsWith('lxc-') ? 'lxc' : name);
  return {
    onCi: true,
    missing: () => (hasProgram(name) ? undefined : `${name} is not installed (scripts/setup.sh --test installs ${pkg})`),
  };
}

/** A file a test reads (an upstream source to compare against); `how` says how to get it. */
export function file(path: string, how: string, onCi = true): Need {
  return { onCi, missing: () => (existsSync(path) ? undefined : `${path} is missing (${how})`) };
}

/** 'root', 'addon', 'bpf', a program on PATH by name, or a Need. */
export type Requirement = 'root' | 'addon' | 'bpf' | (string & {}) | Need;

const ON_CI = process.env.CI === 'true' || process.env.CI === '1';

export class Requirements {
  /** Why this cannot run here: one line per missing requirement. */
  readonly missing: string[];
  /** Whether one of the missing ones is a requirement CI must have. */
  private readonly ciMustHave: boolean;

  constructor(needs: Requirement[]) {
    const all = needs.flatMap((n) => (typeof n !== 'string' ? [n] : (NAMED[n] ?? [program(n)])));
    const unmet = [...new Set(all)].map((n) => ({ n, why: n.missing() })).filter((u) => u.why !== undefined);
    this.missing = [...new Set(unmet.map((u) => u.why!))];
    this.ciMustHave = ON_CI && unmet.some((u) => u.n.onCi);
  }

  /** Whether everything is here (no message, no test registered: for set-up that depends on it). */
  get met(): boolean {
    return this.missing.length === 0;
  }

  /**
   * Whether `what` can run here. When not: says so on stderr, and under CI=true, when CI must have
   * what is missing, registers a failing test in the current describe block.
   */
  available(what: string): boolean {
    if (this.missing.length === 0) return true;
    const why = this.missing.join('; ');
    if (this.ciMustHave) {
      test(`${what}: what it needs is here`, () => {
        throw new Error(`CI=true, and ${what} cannot run: ${why}`);
      });
    } else {
      console.warn(`SKIPPED ${what}: ${why}`);
    }
    return false;
  }

  describe(name: string, body: () => void): void {
    if (this.available(name)) describe(name, body);
    else if (!this.ciMustHave) describe.skip(name, body);
  }

  test(name: string, fn: jest.ProvidesCallback, timeout?: number): void {
    if (this.available(name)) test(name, fn, timeout);
    else if (!this.ciMustHave) test.skip(name, fn, timeout);
  }
}

export function requires(...needs: Requirement[]): Requirements {
  return new Requirements(needs);
}
