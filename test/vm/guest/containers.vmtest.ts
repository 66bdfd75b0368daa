/**
 * Inside a kernel-matrix guest (test/vm: one of Debian's kernels under qemu, cgroup v2, no
 * systemd, so containerd and Docker use the cgroupfs driver): the whole agent as a user runs it
 * (the CLI, real BPF, OTLP-JSON lines on stdout) with a harness containerd and dockerd.
 *
 * - a long-lived ctr container: its first exec, and a command exec'd into it later (exec, open,
 *   exit), carry its container.id and, as linux.cgroup.id, the inode of /sys/fs/cgroup/default/<id>;
 * - churn: short-lived `ctr run --rm` containers back to back, each reporting its own cgroup's
 *   inode in the argv of its last exec: both its execs carry its own id and that inode;
 * - the same for Docker: a long-lived container and `docker run --rm` ones.
 *
 * Run by test/vm/guest/suite.sh (jest -c test/vm/jest.guest.config.js); `npm test` on the host
 * does not pick up *.vmtest.ts.
 */
import { type AgentProcess, ContainerdHarness, type DockerHarness, TEST_IMAGE, buildTestImage, runAsync } from '../../harness';
import { dockerRunRm } from '../../harness/oneshot';
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

/** Short-lived ctr containers, and how many run at once (each lane starts its next when one is gone). */
const CHURN = 10;
const LANES = 2;
/** Short-lived Docker containers (`docker run --rm` takes 5-9 s under TCG). */
const DOCKER_CHURN = 3;
/** After the last container: the processor's pending deadline (2 s) and then some, for a slow guest. */
const SETTLE_MS = 20_000;

const execsOf = (records: Exported[], prefix: string) =>
  records.filter((r) => r.event === 'process.exec' && r.commandLine.startsWith(prefix));
/** A short-lived container's first exec: the `/bin/sh -c …` of reportCgroupCommand(marker). */
const shOf = (records: Exported[], marker: string) =>
  records.filter((r) => r.event === 'process.exec' && r.commandLine.startsWith('/bin/sh -c') && r.commandLine.includes(marker));

requires('bpf', 'containerd', 'ctr', 'runc').describe(
  'kernel matrix guest: containerd and Docker (cgroupfs driver, cgroup v2) through the agent',
  () => {
    let containerd: ContainerdHarness;
    let docker: DockerHarness | undefined;
    let dockerFailed: string | undefined;
    let agent: AgentProcess;
    let records: AgentRecords;

    beforeAll(async () => {
      assertCgroupV2();
      buildTestImage();
      containerd = await ContainerdHarness.start();
      containerd.importImage('default');
      ({ docker, dockerFailed } = await startGuestDocker(containerd));
      ({ agent, records } = await startGuestAgent(['exec', 'exit', 'open', 'connect'], {
        containerd: { socket: containerd.socket },
        ...(docker && { docker: { socket: docker.socket } }),
      }));
    }, 400_000);

    afterAll(async () => {
      await agent?.destroy();
      await docker?.stop();
      await containerd?.stop();
    }, 120_000);

    test("a long-lived ctr container: its first exec and a command exec'd into it (exec, open, exit) carry its container.id and its cgroup v2 inode", async () => {
      const id = uniq('long');
      const sleep = String(100_000 + Math.floor(Math.random() * 100_000));
      const pid = containerd.runContainer(id, { command: ['/bin/sleep', sleep] });
      const cgroup = unifiedCgroupOf(pid);
      expect(cgroup).toBe(`/default/${id}`);
      const inode = cgroupInode(cgroup);
      const marker = uniq('exec');
      const file = '/etc/hostname';
      await containerd.ctrAsync([
        'tasks',
        'exec',
        '--exec-id',
        uniq('x'),
        id,
        '/bin/sh',
        '-c',
        `cat ${file} > /dev/null; exec /bin/echo ${marker}`,
      ]);

      const mine = (all: Exported[]) => ({
        first: all.filter((r) => r.event === 'process.exec' && r.commandLine === `/bin/sleep ${sleep}`),
        sh: all.filter((r) => r.event === 'process.exec' && r.commandLine.startsWith('/bin/sh -c cat') && r.commandLine.includes(marker)),
        echo: all.filter((r) => r.event === 'process.exec' && r.commandLine === `/bin/echo ${marker}`),
        open: all.filter((r) => r.event === 'file.open' && r.path === file && r.containerId !== '' && r.cgroupId === inode),
        exit: all.filter((r) => r.event === 'process.exit' && all.some((e) => e.commandLine === `/bin/echo ${marker}` && e.pid === r.pid)),
      });
      const all = await records.settle(`the records of ${id}`, (a) => Object.values(mine(a)).every((l) => l.length > 0), 60_000);
      const got = mine(all);
      const table = new VerdictTable();
      for (const [what, list] of Object.entries(got))
        table.add(`ctr long ${what}`, verdict(list, id, inode), `container ${id}, cgroup ${cgroup} inode ${inode}`, list);
      table.print(`long-lived ctr container ${id} (cgroup ${cgroup}, inode ${inode})`);
      if (table.problems.length) console.log(`agent log (last lines):\n${records.logTail()}`);
      expect(table.problems).toEqual([]);
      expect(got.echo[0].runtime).toBe('containerd');
      containerd.removeContainer(id);
    });

    test(`churn: ${CHURN} short-lived \`ctr run --rm\` containers back to back (${LANES} at a time): both execs of each carry its own container.id and the cgroup inode it reports`, async () => {
      const started: Array<{ id: string; marker: string }> = [];
      let next = 0;
      const t0 = Date.now();
      await Promise.all(
        Array.from({ length: LANES }, async () => {
          for (let k = next++; k < CHURN; k = next++) {
            const id = uniq(`churn${k}`);
            const marker = uniq('m');
            // The host's cgroup tree, read-only, so the container can stat its own cgroup.
            await containerd.ctrAsync([
              'run',
              '--rm',
              '--null-io',
              '--net-host',
              '--mount',
              'type=bind,src=/sys/fs/cgroup,dst=/sys/fs/cgroup,options=rbind:ro',
              TEST_IMAGE,
              id,
              ...reportCgroupCommand(marker),
            ]);
            started.push({ id, marker });
          }
        }),
      );
      const ranMs = Date.now() - t0;
      const complete = (all: Exported[]) =>
        started.every(({ marker }) => execsOf(all, `/bin/echo ${marker} `).length > 0 && shOf(all, marker).length > 0);
      const all = await records.settle('the records of every short-lived container', complete, SETTLE_MS);
      const table = new VerdictTable();
      for (const { id, marker } of started) {
        const echo = execsOf(all, `/bin/echo ${marker} `);
        // The inode the container reported in its own argv.
        const inode = echo[0]?.commandLine.split(' ')[2] ?? '?';
        const sh = shOf(all, marker);
        table.add('ctr churn sh (first)', verdict(sh, id, inode), `container ${id}`, sh);
        table.add('ctr churn echo', verdict(echo, id, inode), `container ${id}`, echo);
      }
      table.print(`churn: ${started.length} ctr containers in ${ranMs} ms`);
      if (table.problems.length) console.log(`agent log (last lines):\n${records.logTail()}`);
      expect(table.counts()).toEqual({
        'ctr churn sh (first)': { right: CHURN, wrong: 0, unenriched: 0, missing: 0 },
        'ctr churn echo': { right: CHURN, wrong: 0, unenriched: 0, missing: 0 },
      });
    });

    DOCKER.test(
      `Docker: a long-lived container and ${DOCKER_CHURN} \`docker run --rm\` ones carry their own container.id and cgroup v2 inode`,
      async () => {
        if (!docker) throw new Error(dockerFailed ?? 'dockerd did not start');
        const table = new VerdictTable();
        // Long-lived: a command exec'd into it.
        const name = uniq('dlong');
        const id = docker.docker(['run', '-d', '--network', 'none', '--name', name, TEST_IMAGE, '/bin/sleep', '100000']);
        const cgroup = unifiedCgroupOf(docker.pidOf(id));
        expect(cgroup).toBe(`/docker/${id}`);
        const inode = cgroupInode(cgroup);
        const marker = uniq('dexec');
        await runAsync('docker', ['-H', `unix://${docker.socket}`, 'exec', id, '/bin/echo', marker]);
        // Short-lived, one after the other; each reports its cgroup (its own cgroup namespace's root).
        const oneShots: Array<{ id: string; marker: string }> = [];
        for (let k = 0; k < DOCKER_CHURN; k++) {
          const m = uniq('dm');
          const { id: cid } = await dockerRunRm(docker, uniq(`drm${k}`), reportCgroupCommand(m));
          oneShots.push({ id: cid, marker: m });
        }
        const complete = (all: Exported[]) =>
          execsOf(all, `/bin/echo ${marker}`).length > 0 &&
          oneShots.every(({ marker: m }) => execsOf(all, `/bin/echo ${m} `).length > 0 && shOf(all, m).length > 0);
        const all = await records.settle('the records of the Docker containers', complete, SETTLE_MS);
        const long = execsOf(all, `/bin/echo ${marker}`);
        table.add('docker long exec', verdict(long, id, inode), `container ${id}`, long);
        for (const { id: cid, marker: m } of oneShots) {
          const echo = execsOf(all, `/bin/echo ${m} `);
          const reported = echo[0]?.commandLine.split(' ')[2] ?? '?';
          const sh = shOf(all, m);
          table.add('docker churn sh (first)', verdict(sh, cid, reported), `container ${cid}`, sh);
          table.add('docker churn echo', verdict(echo, cid, reported), `container ${cid}`, echo);
        }
        table.print(`Docker in the guest (long-lived ${id.slice(0, 12)}, cgroup ${cgroup}, inode ${inode})`);
        if (table.problems.length) console.log(`agent log (last lines):\n${records.logTail()}`);
        expect(table.problems).toEqual([]);
        expect(long[0].runtime).toBe('docker');
        docker.removeContainer(id);
      },
    );
  },
);
