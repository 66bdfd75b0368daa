/**
 * Acceptance on real BPF: another agent's Inspektor-Gadget-layout map, made
 * and filled by bpftool, enriches the events of a mount namespace no runtime
 * client knows (here: a process of `unshare -m`).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';
import { createMapWithBpftool, dumpPinned, removePins, updateWithBpftool } from './bpftool';
import { describeReal, type RealPipeline, startRealPipeline } from './pipeline';

const execFileAsync = promisify(execFile);
const DIR = `/sys/fs/bpf/ebpf-otel-test-acc-source-${process.pid}`;
const GADGET = `${DIR}/gadget-containers`;

describeReal("enrichment on real BPF from another agent's pinned map", ['unshare', 'nsenter'], () => {
  let p: RealPipeline;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    createMapWithBpftool(GADGET);
    p = await startRealPipeline({}, { pinned_map: { write_path: `${DIR}/containers`, read_path: GADGET } });
  }, 60_000);

  afterAll(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await p?.stop();
    removePins(DIR);
  });

  test('a process in a namespace only the map knows: its exec and open events carry the map entry', async () => {
    child = spawn('unshare', ['-m', 'sleep', '60'], { stdio: 'ignore' });
    await new Promise((resolve) => child!.once('spawn', resolve));
    const own = statSync('/proc/self/ns/mnt').ino;
    const ns = await p.waitFor('the unshared namespace', () => {
      const n = statSync(`/proc/${child!.pid}/ns/mnt`).ino;
      return n !== own ? n : undefined;
    });
    updateWithBpftool(GADGET, { mntns: ns, containerId: 'ig-abc123', namespace: 'team-a', pod: 'worker-0', container: 'worker' });
    await execFileAsync('nsenter', ['-t', String(child.pid), '-m', '/bin/cat', '/etc/hostname']);
    const exec = await p.waitFor('exec of cat', () => p.records.find((r) => r.mntns === ns && r.type === 'exec' && r.args.includes('/etc/hostname')));
    const open = await p.waitFor('open of /etc/hostname', () => p.records.find((r) => r.mntns === ns && r.type === 'open' && r.path === '/etc/hostname'));
    for (const r of [exec, open]) {
      expect(r.container).toMatchObject({
        id: 'ig-abc123',
        name: 'worker',
        runtime: 'pinned-map',
        k8s: { namespace: 'team-a', podName: 'worker-0', containerName: 'worker' },
      });
    }
    // And mirrored into our own map, which bpftool sees too.
    expect(dumpPinned(`${DIR}/containers`).get(ns)).toEqual({ mntns: ns, containerId: 'ig-abc123', namespace: 'team-a', pod: 'worker-0', container: 'worker' });
  });
});
