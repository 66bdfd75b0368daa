/**
 * Acceptance on real BPF with Docker, Podman and LXC: a command run inside a
 * container yields exec and open events carrying that container.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { RuntimesConfig } from '../../src/processors/container-enrichment/runtime';
import { DockerHarness, TEST_IMAGE, buildTestImage } from '../harness';
import { LxcHarness } from '../harness/lxc';
import { PodmanHarness } from '../harness/podman';
import { uniq } from '../runtimes/helpers';
import { removePins } from './bpftool';
import { COMMAND, commandEvents, indexed, mntnsOfPid, type RealPipeline, startRealPipeline } from './pipeline';
import { requires } from '../harness/requires';

const execFileAsync = promisify(execFile);

/** A pipeline watching one runtime, its own pinned map, stopped and unpinned after the file. */
function pipelineFor(
  name: string,
  runtimes: () => RuntimesConfig,
): { get: () => RealPipeline; start: () => Promise<void>; stop: () => Promise<void> } {
  const dir = `/sys/fs/bpf/ebpf-otel-test-acc-${name}-${process.pid}`;
  let p: RealPipeline | undefined;
  return {
    get: () => p!,
    start: async () => {
      p = await startRealPipeline(runtimes(), { pinned_map: { write_path: `${dir}/containers`, read_path: `${dir}/no-source` } });
    },
    stop: async () => {
      await p?.stop();
      removePins(dir);
    },
  };
}

requires('bpf', 'bpftool', 'dockerd', 'docker', 'containerd', 'runc').describe('enrichment on real BPF with a real dockerd', () => {
  let docker: DockerHarness;
  const pipeline = pipelineFor('docker', () => ({ docker: { socket: docker.socket } }));

  beforeAll(async () => {
    buildTestImage();
    docker = await DockerHarness.start();
    docker.loadImage();
    await pipeline.start();
  }, 180_000);
  afterAll(async () => {
    await pipeline.stop();
    await docker?.stop();
    await docker?.containerd.stop();
  }, 120_000);

  test(`\`sh -c '${COMMAND}'\` in a Docker container: events carry id, name and image`, async () => {
    const name = uniq('acc');
    const id = docker.runContainer(name);
    try {
      const ns = mntnsOfPid(docker.pidOf(id));
      await indexed(pipeline.get(), ns);
      await execFileAsync('docker', ['-H', `unix://${docker.socket}`, 'exec', id, 'sh', '-c', COMMAND]);
      for (const r of await commandEvents(pipeline.get(), ns)) {
        expect(r.container).toMatchObject({ id, name, runtime: 'docker', image: { name: TEST_IMAGE } });
      }
    } finally {
      docker.removeContainer(id);
    }
  });
});

requires('bpf', 'bpftool', 'podman', 'conmon', 'runc').describe('enrichment on real BPF with a real podman API service', () => {
  let podman: PodmanHarness;
  const pipeline = pipelineFor('podman', () => ({ podman: { socket: podman.socket } }));

  beforeAll(async () => {
    buildTestImage();
    podman = await PodmanHarness.start();
    podman.loadImage();
    await pipeline.start();
  }, 180_000);
  afterAll(async () => {
    await pipeline.stop();
    await podman?.stop();
  }, 120_000);

  test(`\`sh -c '${COMMAND}'\` in a Podman container: events carry id, name and image`, async () => {
    const name = uniq('acc');
    const id = podman.runContainer(name);
    try {
      const ns = mntnsOfPid(podman.pidOf(id));
      await indexed(pipeline.get(), ns);
      podman.podman(['exec', id, 'sh', '-c', COMMAND]);
      for (const r of await commandEvents(pipeline.get(), ns)) {
        expect(r.container).toMatchObject({ id, name, runtime: 'podman', image: { name: TEST_IMAGE } });
      }
    } finally {
      podman.removeContainer(id);
    }
  });
});

requires('bpf', 'bpftool', 'lxc-create', 'lxc-start', 'lxc-attach', 'lxc-info').describe('enrichment on real BPF with LXC', () => {
  let lxc: LxcHarness;
  const pipeline = pipelineFor('lxc', () => ({ lxc: { lxcpath: [lxc.lxcpath], poll_interval: '250ms' } }));

  beforeAll(async () => {
    lxc = new LxcHarness();
    await pipeline.start();
  }, 60_000);
  afterAll(async () => {
    await pipeline.stop();
    lxc?.stop();
  }, 120_000);

  test(`\`sh -c '${COMMAND}'\` in an LXC container: events carry id, name and image`, async () => {
    const name = uniq('acc');
    // Without blocking the event loop (the harness's lxc-start is synchronous): the
    // receiver and the processor follow the container's boot as it happens.
    const lxcTool = (tool: string, args: string[]) => execFileAsync(tool, ['-P', lxc.lxcpath, '-n', name, ...args]);
    await lxcTool('lxc-create', ['-t', 'busybox', '-f', path.join(lxc.dir, 'default.conf')]);
    await lxcTool('lxc-start', ['-d']);
    const pid = await pipeline.get().waitFor('the LXC container to run', () => lxc.pidOf(name) || undefined);
    try {
      const ns = mntnsOfPid(pid);
      await indexed(pipeline.get(), ns);
      await execFileAsync('lxc-attach', ['-P', lxc.lxcpath, '-n', name, '--', 'sh', '-c', COMMAND]);
      for (const r of await commandEvents(pipeline.get(), ns)) {
        expect(r.container).toMatchObject({ id: name, name, runtime: 'lxc', image: { name: 'busybox' } });
      }
    } finally {
      lxc.destroy(name);
    }
  });
});
