/**
 * Short-lived containers, the way users start them: `ctr run --rm`, `docker run --rm`,
 * `podman run --rm`, a kubelet-style pod whose container exits at once. Every helper runs
 * without blocking the event loop (the pipeline under test keeps running) and resolves with
 * the container's id as its runtime names it, once the runtime's client returned.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { ContainerdHarness } from './containerd';
import type { CriPods, RunningPod } from './cri';
import type { DockerHarness } from './docker';
import { TEST_IMAGE } from './image';
import type { PodmanHarness } from './podman';
import { runAsync } from './procs';

export interface OneShot {
  /** The container's id as its runtime names it. */
  id: string;
  /** What the CLI printed (the container's stdout for docker/podman; '' for ctr, run with --null-io: its fifos may lose the output of a container that exits at once). */
  output: string;
}

/**
 * `ctr run --rm --null-io --net-host <image> <id> <command…>`: returns once the container exited and was
 * deleted; fails when its exit status is not 0.
 */
export async function ctrRunRm(h: ContainerdHarness, id: string, command: string[], namespace = 'default'): Promise<OneShot> {
  const output = await h.ctrAsync(['run', '--rm', '--null-io', '--net-host', TEST_IMAGE, id, ...command], namespace);
  return { id, output };
}

/** Reads and removes a `--cidfile` the engine's CLI wrote. */
function takeCid(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } finally {
    rmSync(file, { force: true });
  }
}

/** `docker run --rm --network none --cidfile … --name <name> <image> <command…>`: the full container id and its output. */
export async function dockerRunRm(h: DockerHarness, name: string, command: string[]): Promise<OneShot> {
  const cidfile = path.join(h.dir, `cid-${randomUUID()}`);
  try {
    const output = await runAsync('docker', [
      '-H',
      `unix://${h.socket}`,
      'run',
      '--rm',
      '--network',
      'none',
      '--cidfile',
      cidfile,
      '--name',
      name,
      TEST_IMAGE,
      ...command,
    ]);
    return { id: takeCid(cidfile), output };
  } finally {
    rmSync(cidfile, { force: true });
  }
}

/** `podman run --rm --cidfile … --name <name> <image> <command…>` as a remote client of the harness service: the full id and its output. */
export async function podmanRunRm(h: PodmanHarness, name: string, command: string[]): Promise<OneShot> {
  const cidfile = path.join(h.dir, `cid-${randomUUID()}`);
  const env = { ...process.env, CONTAINERS_CONF: path.join(h.dir, 'containers.conf') };
  try {
    const output = await runAsync(
      'podman',
      ['--remote', '--url', `unix://${h.socket}`, 'run', '--rm', '--cidfile', cidfile, '--name', name, TEST_IMAGE, ...command],
      { env },
    );
    return { id: takeCid(cidfile), output };
  } finally {
    rmSync(cidfile, { force: true });
  }
}

/**
 * A kubelet-style pod (host network) whose one container runs `command` (which may exit at
 * once): RunPodSandbox + CreateContainer + StartContainer. The pod stays until `pods.removePod`.
 */
export function criRunPod(pods: CriPods, name: string, command: string[], namespace = 'default'): Promise<RunningPod> {
  return pods.runPod({ name, namespace, containerName: 'job', command });
}
