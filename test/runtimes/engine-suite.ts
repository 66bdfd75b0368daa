import { DockerClient } from '../../src/processors/container-enrichment/runtime';
import { TEST_IMAGE, buildTestImage } from '../harness';
import { capturingLogger, containersJson, EventRecorder, expectContainer, mntns, uniq, waitHealthy } from './helpers';

/** What the Docker and Podman harnesses have in common. */
export interface EngineHarness {
  readonly dir: string;
  readonly socket: string;
  runContainer(name: string, command?: string[], labels?: Record<string, string>): string;
  pidOf(id: string): number;
  removeContainer(id: string): void;
  repoDigestsOf(image: string): string[];
}

/**
 * The Engine-API acceptance tests shared by Docker and Podman (the same client speaks to
 * both): listing, `containers --json`, and watch() start/exit within 1 s.
 */
export function engineApiTests(runtime: 'docker' | 'podman', harness: () => EngineHarness, track: <T extends { close(): Promise<void> }>(c: T) => T): void {
  test(`a ${runtime} container is listed with id, name, image, pid, mntns and labels; \`containers --json\` agrees`, async () => {
    const h = harness();
    const name = uniq(runtime);
    const id = h.runContainer(name, undefined, { team: 'obs' });
    const pid = h.pidOf(id);
    const client = track(new DockerClient(runtime, { socket: h.socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const want = { id, name, image: TEST_IMAGE, pid, runtime };

    const listed = (await client.list()).find((c) => c.id === id);
    expectContainer(listed, want);
    expect(listed!.labels.team).toBe('obs');
    const repoDigests = h.repoDigestsOf(TEST_IMAGE);
    expect(listed!.image).toEqual({ name: TEST_IMAGE, id: buildTestImage().configDigest, digest: repoDigests[0] ?? '' });
    // Podman gives a loaded image a repository digest, so the lookup is exercised, not only its absence.
    if (runtime === 'podman') expect(listed!.image.digest).toMatch(/^localhost\/ebpf-otel-busybox@sha256:[0-9a-f]{64}$/);
    expect(listed!.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expectContainer(await client.get(id), want);
    expectContainer(await client.get(name), want);
    expect(await client.get('no-such-container')).toBeUndefined();

    const cli = await containersJson(h.dir, { [runtime]: { socket: h.socket } });
    expectContainer(cli.find((c) => c.id === id), want);
    h.removeContainer(id);
  });

  test(`${runtime} watch() reports start and exit within 1 s`, async () => {
    const h = harness();
    const client = track(new DockerClient(runtime, { socket: h.socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const rec = new EventRecorder(client);
    await waitHealthy(client);
    const id = h.runContainer(uniq('watch'));
    const started = await rec.next('started', id, 1_000);
    const pid = h.pidOf(id);
    expect(started.pid).toBe(pid);
    expect(started.container?.mntns).toBe(mntns(pid));
    h.removeContainer(id);
    await rec.next('exited', id, 1_000);
    expect(rec.of(id).filter((k) => k === 'started')).toHaveLength(1);
  });
}
