/**
 * Inside a kernel-matrix guest booted with systemd as PID 1 (test/vm, suite `systemd`): the
 * systemd cgroup driver, for real. containerd runs CRI pods with `SystemdCgroup = true` under
 * kubelet-style pod slices, a nerdctl-style ctr container gets a transient scope from systemd, and
 * dockerd picks the systemd driver itself. For each: the cgroup path has the shape the runtime
 * gives it (and containerOfCgroupPath reads the container from it), and the agent's records carry
 * the container and, as linux.cgroup.id, that scope's inode.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { containerOfCgroupPath } from '../../../src/processors/container-enrichment/cgroup';
import {
  type AgentProcess,
  ContainerdHarness,
  CriPods,
  type DockerHarness,
  TEST_IMAGE,
  buildTestImage,
  runAsync,
  waitFor,
} from '../../harness';
import { uniq } from '../../runtimes/helpers';
import {
  type AgentRecords,
  assertCgroupV2,
  cgroupInode,
  DOCKER,
  type Exported,
  reportCgroupCommand,
  startGuestAgent,
  startGuestDocker,
  unifiedCgroupOf,
  verdict,
  VerdictTable,
} from './records';
import { requires } from '../../harness/requires';

const SHORT_PODS = 3;
const SETTLE_MS = 30_000;

const pid1 = (() => {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return '?';
  }
})();

const execsOf = (records: Exported[], prefix: string) =>
  records.filter((r) => r.event === 'process.exec' && r.commandLine.startsWith(prefix));
const shOf = (records: Exported[], marker: string) =>
  records.filter((r) => r.event === 'process.exec' && r.commandLine.startsWith('/bin/sh -c') && r.commandLine.includes(marker));
/** What the kubelet's systemd driver names a pod's slice: `kubepods-<qos>-pod<uid, - as _>.slice`. */
const podSlice = (qos: string, uid: string) => `kubepods-${qos}-pod${uid.replace(/-/g, '_')}.slice`;

requires('bpf', 'containerd', 'ctr', 'runc', 'systemctl').describe(
  'kernel matrix guest with systemd as PID 1: the systemd cgroup driver',
  () => {
    let containerd: ContainerdHarness;
    let pods: CriPods;
    let docker: DockerHarness | undefined;
    let dockerFailed: string | undefined;
    let agent: AgentProcess;
    let records: AgentRecords;

    beforeAll(async () => {
      if (pid1 !== 'systemd')
        throw new Error(`PID 1 is ${pid1}, not systemd: these tests need the guest booted with systemd (test/vm, ECO_VM_INIT=systemd)`);
      assertCgroupV2();
      buildTestImage();
      containerd = await ContainerdHarness.start({ cri: true, systemdCgroup: true });
      containerd.importImage('k8s.io');
      containerd.importImage('default');
      pods = new CriPods(containerd.socket, path.join(containerd.dir, 'pods'));
      ({ docker, dockerFailed } = await startGuestDocker(containerd));
      ({ agent, records } = await startGuestAgent(['exec', 'exit', 'open'], {
        containerd: { socket: containerd.socket },
        cri: { socket: containerd.socket },
        ...(docker && { docker: { socket: docker.socket } }),
      }));
    }, 400_000);

    afterAll(async () => {
      await agent?.destroy();
      await pods?.close();
      await docker?.stop();
      await containerd?.stop();
    }, 120_000);

    test("CRI pods (SystemdCgroup = true) under kubepods slices: scope path shape, container.id, k8s.pod.uid and the scope's inode, long-lived and short-lived", async () => {
      const uid = randomUUID();
      const pod = await pods.runPod({
        name: uniq('web'),
        namespace: 'shop',
        uid,
        containerName: 'app',
        cgroupParent: podSlice('besteffort', uid),
      });
      const pid = await waitFor("the pod container's task", () => containerd.taskPid(pod.containerId, 'k8s.io') || undefined, 30_000);
      const cgroup = unifiedCgroupOf(pid);
      const slice = podSlice('besteffort', uid);
      expect(cgroup).toBe(`/kubepods.slice/kubepods-besteffort.slice/${slice}/cri-containerd-${pod.containerId}.scope`);
      expect(containerOfCgroupPath(cgroup)).toEqual({ id: pod.containerId, runtime: 'cri', certain: true, podUid: uid });
      const inode = cgroupInode(cgroup);
      const marker = uniq('crix');
      await containerd.ctrAsync(['tasks', 'exec', '--exec-id', uniq('x'), pod.containerId, '/bin/echo', marker], 'k8s.io');

      // Short-lived pod containers back to back (Guaranteed and Burstable slices too), each reporting its scope's inode.
      const shortOnes: Array<{ id: string; marker: string; uid: string }> = [];
      const qos = ['guaranteed', 'burstable', 'besteffort'];
      for (let k = 0; k < SHORT_PODS; k++) {
        const m = uniq('crim');
        const u = randomUUID();
        const q = qos[k % qos.length];
        // Guaranteed pods sit right under kubepods.slice: kubepods-pod<uid>.slice.
        const parent = q === 'guaranteed' ? `kubepods-pod${u.replace(/-/g, '_')}.slice` : podSlice(q, u);
        const p = await pods.runPod({
          name: uniq(`job${k}`),
          namespace: 'batch',
          uid: u,
          containerName: 'job',
          command: reportCgroupCommand(m),
          cgroupParent: parent,
        });
        shortOnes.push({ id: p.containerId, marker: m, uid: u });
      }
      const complete = (all: Exported[]) =>
        execsOf(all, `/bin/echo ${marker}`).length > 0 &&
        shortOnes.every((s) => execsOf(all, `/bin/echo ${s.marker} `).length > 0 && shOf(all, s.marker).length > 0);
      const all = await records.settle('the records of the CRI containers', complete, SETTLE_MS);
      const table = new VerdictTable();
      const long = execsOf(all, `/bin/echo ${marker}`);
      table.add('cri long exec', verdict(long, pod.containerId, inode), `container ${pod.containerId} (${cgroup})`, long);
      for (const s of shortOnes) {
        const echo = execsOf(all, `/bin/echo ${s.marker} `);
        const reported = echo[0]?.commandLine.split(' ')[2] ?? '?';
        table.add('cri short sh (first)', verdict(shOf(all, s.marker), s.id, reported), `container ${s.id}`, shOf(all, s.marker));
        table.add('cri short echo', verdict(echo, s.id, reported), `container ${s.id}`, echo);
        if (echo[0]) expect(echo[0].flat.resource['k8s.pod.uid']).toBe(s.uid);
      }
      table.print(`CRI with the systemd driver (long-lived ${pod.containerId.slice(0, 12)} in ${cgroup}, inode ${inode})`);
      if (table.problems.length) console.log(`agent log (last lines):\n${records.logTail()}`);
      expect(table.problems).toEqual([]);
      expect(long[0].flat.resource['k8s.pod.uid']).toBe(uid);
      expect(long[0].flat.resource['k8s.namespace.name']).toBe('shop');
    });

    test('a ctr container in a systemd scope, as nerdctl makes them (system.slice:nerdctl:<id>): /system.slice/nerdctl-<id>.scope, enriched by containerd', async () => {
      const id = randomBytes(32).toString('hex');
      const sleep = String(100_000 + Math.floor(Math.random() * 100_000));
      await containerd.ctrAsync([
        'run',
        '-d',
        '--null-io',
        '--net-host',
        '--runc-systemd-cgroup',
        '--cgroup',
        `system.slice:nerdctl:${id}`,
        TEST_IMAGE,
        id,
        '/bin/sleep',
        sleep,
      ]);
      const pid = containerd.taskPid(id);
      const cgroup = unifiedCgroupOf(pid);
      expect(cgroup).toBe(`/system.slice/nerdctl-${id}.scope`);
      expect(containerOfCgroupPath(cgroup)).toEqual({ id, runtime: 'containerd', certain: true, podUid: '' });
      const inode = cgroupInode(cgroup);
      const marker = uniq('nx');
      await containerd.ctrAsync(['tasks', 'exec', '--exec-id', uniq('x'), id, '/bin/echo', marker]);
      const all = await records.settle(
        `the records of ${id}`,
        (a) => execsOf(a, `/bin/echo ${marker}`).length > 0 && execsOf(a, `/bin/sleep ${sleep}`).length > 0,
        SETTLE_MS,
      );
      const table = new VerdictTable();
      table.add(
        'nerdctl-style first',
        verdict(execsOf(all, `/bin/sleep ${sleep}`), id, inode),
        `container ${id}`,
        execsOf(all, `/bin/sleep ${sleep}`),
      );
      table.add(
        'nerdctl-style exec',
        verdict(execsOf(all, `/bin/echo ${marker}`), id, inode),
        `container ${id}`,
        execsOf(all, `/bin/echo ${marker}`),
      );
      table.print(`ctr container in ${cgroup} (inode ${inode})`);
      if (table.problems.length) console.log(`agent log (last lines):\n${records.logTail()}`);
      expect(table.problems).toEqual([]);
      containerd.removeContainer(id);
    });

    DOCKER.test(
      "Docker picks the systemd driver: /system.slice/docker-<id>.scope, records carry its id and the scope's inode",
      async () => {
        if (!docker) throw new Error(dockerFailed ?? 'dockerd did not start');
        expect(docker.docker(['info', '--format', '{{.CgroupDriver}} {{.CgroupVersion}}'])).toBe('systemd 2');
        const id = docker.docker(['run', '-d', '--network', 'none', '--name', uniq('dsd'), TEST_IMAGE, '/bin/sleep', '100000']);
        const cgroup = unifiedCgroupOf(docker.pidOf(id));
        expect(cgroup).toBe(`/system.slice/docker-${id}.scope`);
        expect(containerOfCgroupPath(cgroup)).toEqual({ id, runtime: 'docker', certain: true, podUid: '' });
        const inode = cgroupInode(cgroup);
        const marker = uniq('dx');
        await runAsync('docker', ['-H', `unix://${docker.socket}`, 'exec', id, '/bin/echo', marker]);
        const all = await records.settle(`the records of ${id}`, (a) => execsOf(a, `/bin/echo ${marker}`).length > 0, SETTLE_MS);
        const table = new VerdictTable();
        table.add(
          'docker systemd exec',
          verdict(execsOf(all, `/bin/echo ${marker}`), id, inode),
          `container ${id}`,
          execsOf(all, `/bin/echo ${marker}`),
        );
        table.print(`Docker container in ${cgroup} (inode ${inode})`);
        if (table.problems.length) console.log(`agent log (last lines):\n${records.logTail()}`);
        expect(table.problems).toEqual([]);
        expect(execsOf(all, `/bin/echo ${marker}`)[0].runtime).toBe('docker');
        docker.removeContainer(id);
      },
    );
  },
);
