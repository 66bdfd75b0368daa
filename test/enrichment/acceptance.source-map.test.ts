/**
 * Acceptance on real BPF: another agent's Inspektor-Gadget-layout map, made
 * and filled by bpftool, describes a container no runtime client knows — a
 * process of `unshare -m` in a container-named cgroup — and only the container
 * its entry names: an entry whose id is another container's is not applied to
 * whatever now runs in that mount namespace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { detectContainerHierarchy } from '../../src/host/cgroups';
import { createMapWithBpftool, dumpPinned, removePins, updateWithBpftool } from './bpftool';
import { type RealPipeline, startRealPipeline } from './pipeline';
import { requires } from '../harness/requires';

const DIR = `/sys/fs/bpf/ebpf-otel-test-acc-source-${process.pid}`;
const GADGET = `${DIR}/gadget-containers`;
const CGROUPS = path.join(detectContainerHierarchy().mountPath, `ebpf-otel-test-source-${process.pid}`);
const ID_KNOWN = `${process.pid.toString(16)}`.padStart(64, 'a');
const ID_OTHER = `${process.pid.toString(16)}`.padStart(64, 'b');

requires('bpf', 'bpftool', 'unshare').describe("enrichment on real BPF from another agent's pinned map", () => {
  let p: RealPipeline;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    createMapWithBpftool(GADGET);
    mkdirSync(CGROUPS);
    p = await startRealPipeline({}, { pinned_map: { write_path: `${DIR}/containers`, read_path: GADGET } });
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(
      children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
    );
    await p?.stop();
    removePins(DIR);
    for (const id of [ID_KNOWN, ID_OTHER]) await removeCgroup(path.join(CGROUPS, id));
    rmdirSync(CGROUPS);
  });

  /** Kills what still runs in the cgroup (the shell's sleep outlives the killed shell), then removes it. */
  async function removeCgroup(dir: string): Promise<void> {
    if (!existsSync(dir)) return;
    for (let tries = 0; ; tries++) {
      const pids = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
      if (pids.length === 0) break;
      if (tries > 200) throw new Error(`processes ${pids.join(' ')} still in ${dir}`);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      await new Promise((r) => setTimeout(r, 10));
    }
    rmdirSync(dir);
  }

  /** A "container": a shell in its own mount namespace and a cgroup named by `id`, waiting for a line before `cat /etc/hostname`. */
  async function container(id: string): Promise<{ child: ChildProcess; mntns: number }> {
    mkdirSync(path.join(CGROUPS, id));
    const child = spawn('unshare', ['-m', 'sh', '-c', 'read line; /bin/cat /etc/hostname; sleep 60'], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    children.push(child);
    await new Promise((resolve) => child.once('spawn', resolve));
    const own = statSync('/proc/self/ns/mnt').ino;
    const mntns = await p.waitFor('the unshared namespace', () => {
      const n = statSync(`/proc/${child.pid}/ns/mnt`).ino;
      return n !== own ? n : undefined;
    });
    writeFileSync(path.join(CGROUPS, id, 'cgroup.procs'), String(child.pid));
    return { child, mntns };
  }

  test("a container only the map knows: its exec and open events carry the map entry; a reused namespace's entry naming another container is not applied", async () => {
    const known = await container(ID_KNOWN);
    const other = await container(ID_OTHER);
    updateWithBpftool(GADGET, { mntns: known.mntns, containerId: ID_KNOWN, namespace: 'team-a', pod: 'worker-0', container: 'worker' });
    // As if ID_OTHER's namespace inode had belonged to a container the other agent has not removed yet.
    updateWithBpftool(GADGET, {
      mntns: other.mntns,
      containerId: 'ig-gone-container',
      namespace: 'team-b',
      pod: 'gone-0',
      container: 'gone',
    });
    for (const c of [known, other]) c.child.stdin!.end('go\n');

    const of = (mntns: number) => ({
      exec: p.waitFor('exec of cat', () => p.records.find((r) => r.mntns === mntns && r.type === 'exec' && r.filename === '/bin/cat')),
      open: p.waitFor('open of /etc/hostname', () =>
        p.records.find((r) => r.mntns === mntns && r.type === 'open' && r.path === '/etc/hostname'),
      ),
    });
    const k = of(known.mntns);
    for (const r of [await k.exec, await k.open]) {
      expect(r.container).toMatchObject({
        id: ID_KNOWN,
        name: 'worker',
        runtime: 'pinned-map',
        k8s: { namespace: 'team-a', podName: 'worker-0', containerName: 'worker' },
      });
    }
    const o = of(other.mntns);
    for (const r of [await o.exec, await o.open]) {
      // Its own id, from its cgroup; nothing of the entry that names another container.
      expect(r.container).toMatchObject({ id: ID_OTHER, name: '' });
      expect(r.container?.k8s).toBeUndefined();
    }
    // And mirrored into our own map, which bpftool sees too.
    expect(dumpPinned(`${DIR}/containers`).get(known.mntns)).toEqual({
      mntns: known.mntns,
      containerId: ID_KNOWN,
      namespace: 'team-a',
      pod: 'worker-0',
      container: 'worker',
    });
  });
});
