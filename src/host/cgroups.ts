import { readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The cgroup hierarchy whose cgroup ids identify containers. Runtimes make a
 * new cgroup per container and a kernfs id is never reused within a boot, so
 * (unlike a mount namespace inode) the id names one container for good.
 * - cgroup v2 (`/sys/fs/cgroup` is cgroup2): the unified hierarchy.
 * - v1 or hybrid: the unified hierarchy of a hybrid host is usually left at
 *   its root by the runtimes, so a v1 controller they always populate.
 */
export interface ContainerHierarchy {
  /** 'unified', or the v1 controller, e.g. 'memory'. */
  controller: string;
  /** The controller's index among the kernel's subsystems (the BPF programs read task->cgroups->subsys[i]); undefined for unified. */
  subsysIndex: number | undefined;
  /** As /proc/<pid>/cgroup and the cgroup_mkdir tracepoint report it (0: unified). */
  hierarchyId: number;
  /** Where the hierarchy's root is mounted in this agent's mount namespace; '' when not mounted. */
  mountPath: string;
}

const CGROUP2_SUPER_MAGIC = 0x63677270;
/** Controllers every runtime's v1 driver populates, most reliable first. */
const V1_PREFERENCE = ['memory', 'pids', 'cpu', 'cpuacct', 'blkio', 'devices', 'freezer', 'cpuset'];

interface CgroupMount {
  fstype: string;
  root: string;
  mountPoint: string;
  superOptions: string[];
}

/** `/proc/self/mountinfo` cgroup mounts (fields: id parent dev root mountpoint opts [tags] - fstype source superopts). */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const [fstype, , superOpts = ''] = line.slice(dash + 3).split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    out.push({ fstype, root: unescapeMount(left[3]), mountPoint: unescapeMount(left[4]), superOptions: superOpts.split(',') });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** `/proc/cgroups` rows in the kernel's subsystem order (the row index is the subsystem index). */
export function parseProcCgroups(text: string): Array<{ name: string; hierarchyId: number; enabled: boolean }> {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [name, hierarchy, , enabled] = l.split(/\s+/);
      return { name, hierarchyId: Number(hierarchy), enabled: enabled === '1' };
    });
}

/**
 * Picks the container hierarchy from what this host mounts. `cgroupRoot` is
 * where the host's cgroup tree is (`<host_root>/sys/fs/cgroup`).
 */
export function detectContainerHierarchy(
  cgroupRoot = '/sys/fs/cgroup',
  read: { procCgroups(): string; mountinfo(): string; isCgroup2(p: string): boolean } = hostReads,
): ContainerHierarchy {
  const mounts = cgroupMounts(read.mountinfo());
  if (read.isCgroup2(cgroupRoot)) return { controller: 'unified', subsysIndex: undefined, hierarchyId: 0, mountPath: cgroupRoot };
  const subsystems = parseProcCgroups(read.procCgroups());
  for (const controller of V1_PREFERENCE) {
    const index = subsystems.findIndex((s) => s.name === controller);
    const s = subsystems[index];
    if (!s || !s.enabled || s.hierarchyId === 0) continue;
    // The host's tree, where the agent mounts it (a container may see its own at /sys/fs/cgroup too).
    const candidates = mounts.filter((m) => m.fstype === 'cgroup' && m.root === '/' && m.superOptions.includes(controller));
    const mount = candidates.find((m) => m.mountPoint.startsWith(cgroupRoot)) ?? candidates[0];
    return { controller, subsysIndex: index, hierarchyId: s.hierarchyId, mountPath: mount?.mountPoint ?? '' };
  }
  const unified = mounts.find((m) => m.fstype === 'cgroup2' && m.root === '/');
  return { controller: 'unified', subsysIndex: undefined, hierarchyId: 0, mountPath: unified?.mountPoint ?? '' };
}

const hostReads = {
  procCgroups: () => readFileSync('/proc/cgroups', 'utf8'),
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
  isCgroup2: (p: string) => {
    try {
      return statfsSync(p).type === CGROUP2_SUPER_MAGIC;
    } catch {
      return false;
    }
  },
};

/** The hierarchy's path of `pid` from `/proc/<pid>/cgroup` text; undefined when absent. */
export function cgroupPathIn(procCgroupText: string, hierarchyId: number): string | undefined {
  for (const line of procCgroupText.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    if (Number(line.slice(0, first)) === hierarchyId) return line.slice(second + 1);
  }
  return undefined;
}

/** A cgroup's kernfs id is its directory's inode number (64-bit kernels). */
export function cgroupIdOf(mountPath: string, cgroupPath: string): number | undefined {
  try {
    return statSync(path.join(mountPath, cgroupPath)).ino;
  } catch {
    return undefined;
  }
}

/**
 * Every cgroup under the hierarchy's root (depth-first, at most `maxDirs`):
 * id → path. For what existed before the agent's cgroup_mkdir program ran.
 */
export function walkCgroups(mountPath: string, maxDirs: number): Map<number, string> {
  const out = new Map<number, string>();
  const stack = ['/'];
  while (stack.length > 0 && out.size < maxDirs) {
    const rel = stack.pop()!;
    const abs = path.join(mountPath, rel);
    let id: number;
    let entries;
    try {
      id = statSync(abs).ino;
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      continue; // removed meanwhile
    }
    out.set(id, rel);
    for (const e of entries) if (e.isDirectory()) stack.push(path.posix.join(rel, e.name));
  }
  return out;
}
