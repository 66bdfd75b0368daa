/**
 * The BPF object is CO-RE and built for the node's architecture: binding.gyp derives
 * `__TARGET_ARCH_*` from gyp's target_arch (native/bpf/target-arch.sh) instead of hardcoding x86.
 * Here binding.gyp's own compile and link actions are replayed for arm64 and x86_64 (clang
 * -target bpf, bpftool gen object, bpftool gen skeleton), so an arm64 node's `npm ci` cannot break
 * unnoticed on an x86_64 CI machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { requires } from '../harness/requires';
import { REPO_ROOT } from '../harness/paths';

interface GypAction {
  action_name: string;
  action: string[];
}
interface Gyp {
  variables: { bpf_cflags: string[] };
  targets: Array<{ target_name: string; actions: GypAction[] }>;
}

/** binding.gyp is a Python literal; ours is JSON once its comment lines are gone. */
function readGyp(): Gyp {
  const text = readFileSync(path.join(REPO_ROOT, 'binding.gyp'), 'utf8')
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  return JSON.parse(text) as Gyp;
}

const ARCH_EXPANSION = '<!(sh native/bpf/target-arch.sh <(target_arch))';
const tools = requires('clang', 'bpftool');

describe('binding.gyp: the BPF target architecture is derived, not hardcoded', () => {
  it('passes -D__TARGET_ARCH_ from target_arch through native/bpf/target-arch.sh', () => {
    const { bpf_cflags } = readGyp().variables;
    expect(bpf_cflags.filter((f) => f.startsWith('-D__TARGET_ARCH_'))).toEqual([`-D__TARGET_ARCH_${ARCH_EXPANSION}`]);
  });

  it.each([
    ['x64', 'x86'],
    ['ia32', 'x86'],
    ['arm64', 'arm64'],
  ])('target_arch %s is __TARGET_ARCH_%s', (gypArch, bpfArch) => {
    expect(execFileSync('sh', ['native/bpf/target-arch.sh', gypArch], { cwd: REPO_ROOT, encoding: 'utf8' }).trim()).toBe(bpfArch);
  });

  it('refuses an architecture it does not know, naming it', () => {
    const r = spawnSync('sh', ['native/bpf/target-arch.sh', 'vax'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("'vax'");
  });
});

tools.describe("binding.gyp's BPF actions build a CO-RE object for each architecture", () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'eco-bpf-arch-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    ['arm64', 'arm64'],
    ['x64', 'x86'],
  ])(
    'target_arch %s: every program compiles, links and gets a skeleton',
    (gypArch, bpfArch) => {
      const gyp = readGyp();
      const target = gyp.targets.find((t) => t.target_name === 'ebpf_otel')!;
      const out = path.join(work, gypArch);
      const arch = execFileSync('sh', ['native/bpf/target-arch.sh', gypArch], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
      expect(arch).toBe(bpfArch);
      const cflags = gyp.variables.bpf_cflags.map((f) => f.replace(ARCH_EXPANSION, arch));
      const expand = (args: string[]) => args.flatMap((a) => (a === '<@(bpf_cflags)' ? cflags : [a.split('<(bpf_dir)').join(out)]));
      mkdirSync(out, { recursive: true });
      const compiles = target.actions.filter((a) => a.action_name.startsWith('bpf_compile_'));
      // Every BPF source is compiled by some action (a new program cannot be left out of the build).
      const sources = readdirSync(path.join(REPO_ROOT, 'native/bpf'))
        .filter((f) => f.endsWith('.bpf.c'))
        .sort();
      expect(compiles.map((a) => path.basename(a.action.find((x) => x.endsWith('.bpf.c'))!)).sort()).toEqual(sources);
      for (const a of compiles) expect(expand(a.action)).toContain(`-D__TARGET_ARCH_${bpfArch}`);
      // Every action in order, as make runs them: compile, link (bpftool gen object), skeletons.
      for (const a of target.actions) {
        const [cmd, ...args] = expand(a.action);
        const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8' });
        expect({ action: a.action_name, status: r.status, stderr: r.stderr }).toEqual({ action: a.action_name, status: 0, stderr: '' });
      }
      // An ELF for the BPF machine (EM_BPF = 247), little-endian like both targets.
      const elf = readFileSync(path.join(out, 'ebpf_otel.bpf.o'));
      expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      expect(elf.readUInt16LE(18)).toBe(247);
      const skeleton = readFileSync(path.join(out, 'ebpf_otel.skel.h'), 'utf8');
      for (const program of ['handle_exec', 'handle_exit', 'enter_openat', 'exit_openat2', 'enter_connect', 'handle_cgroup_mkdir']) {
        expect(skeleton).toContain(`struct bpf_program *${program};`);
      }
    },
    120_000,
  );
});
