import * as http from 'node:http';
import { DockerClient } from '../../src/processors/container-enrichment/runtime';
import { TEST_IMAGE, buildTestImage } from '../harness';
import { capturingLogger, containersJson, EventRecorder, expectContainer, mntns, uniq, waitHealthy, waitUntil } from './helpers';

/** One Engine API call, as `docker`/`podman` make them (`run --rm` = create with AutoRemove + start). */
function engineApi(
  socket: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: object,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, method, path, headers: { Host: 'localhost', 'Content-Type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** What the Docker and Podman harnesses have in common. */
export interface EngineHarness {
  readonly dir: string;
  readonly socket: string;
  runContainer(name: string, command?: string[], labels?: Record<string, string>): string;
  pidOf(id: string): number;
  removeContainer(id: string): void;
  repoDigestsOf(image: string): string[];
}

type Track = <T extends { close(): Promise<void> }>(c: T) => T;

/**
 * In an engine's describe block: its harness started (the test image loaded) before all and stopped
 * after, with the clients the tests made; the shared tests registered. Returns the harness (once
 * started) and `track`, for the engine's own tests.
 */
export function engineSuite<H extends EngineHarness & { loadImage(): void; stop(): Promise<void> }>(
  runtime: 'docker' | 'podman',
  start: () => Promise<H>,
): { harness: () => H; track: Track } {
  let h: H | undefined;
  const clients: { close(): Promise<void> }[] = [];
  const track: Track = (c) => (clients.push(c), c);
  const harness = (): H => {
    if (!h) throw new Error(`the ${runtime} harness did not start`);
    return h;
  };

  beforeAll(async () => {
    buildTestImage();
    h = await start();
    h.loadImage();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await h?.stop();
  }, 60_000);

  engineApiTests(runtime, harness, track);
  return { harness, track };
}

/**
 * The Engine-API acceptance tests shared by Docker and Podman (the same client speaks to
 * both): listing, `containers --json`, and watch() start/exit within 1 s.
 */
function engineApiTests(runtime: 'docker' | 'podman', harness: () => EngineHarness, track: Track): void {
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
    expectContainer(
      cli.find((c) => c.id === id),
      want,
    );
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

  test(`a ${runtime} \`run --rm\` container whose command exits at once is still described by get() once the engine has removed it`, async () => {
    const h = harness();
    const client = track(new DockerClient(runtime, { socket: h.socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const rec = new EventRecorder(client);
    await waitHealthy(client);
    const name = uniq('rm');
    const labels = { team: 'obs', 'io.kubernetes.pod.name': 'job-1', 'io.kubernetes.pod.namespace': 'batch' };
    const created = await engineApi(h.socket, 'POST', `/containers/create?name=${name}`, {
      Image: TEST_IMAGE,
      Cmd: ['/bin/sh', '-c', 'exec echo hi'],
      Labels: labels,
      HostConfig: { AutoRemove: true, NetworkMode: 'none' },
    });
    expect(created.status).toBe(201);
    const { Id: id } = JSON.parse(created.body) as { Id: string };
    expect((await engineApi(h.socket, 'POST', `/containers/${id}/start`)).status).toBe(204);
    const deadline = Date.now() + 10_000;
    while ((await engineApi(h.socket, 'GET', `/containers/${id}/json`)).status !== 404) {
      if (Date.now() > deadline) throw new Error(`${runtime} did not remove ${id} within 10 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Podman's file events logger (the harness's) polls its log: events come up to ~250 ms late.
    await rec.next('deleted', id, 5_000);

    const gone = await client.get(id);
    expect(gone).toMatchObject({ id, name, runtime, state: 'stopped', pid: 0, mntns: 0, sandbox: false, labels });
    expect(gone!.k8s).toMatchObject({ podName: 'job-1', namespace: 'batch' });
    expect(gone!.image.name).toBe(TEST_IMAGE);
    expect(await client.get(uniq('never-created'))).toBeUndefined();
  });

  test(`${runtime}: a container is inspected as soon as it is created, so get() knows its image id once it is removed without ever starting`, async () => {
    const h = harness();
    const client = track(new DockerClient(runtime, { socket: h.socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const rec = new EventRecorder(client);
    await waitHealthy(client);
    const created = await engineApi(h.socket, 'POST', `/containers/create?name=${uniq('never-started')}`, {
      Image: TEST_IMAGE,
      HostConfig: { NetworkMode: 'none' },
    });
    expect(created.status).toBe(201);
    const { Id: id } = JSON.parse(created.body) as { Id: string };
    await rec.next('created', id, 5_000);
    // The inspect went out before the event was delivered: remove the container once it is answered.
    const prefetching = () => (client as unknown as { prefetching: number }).prefetching;
    await waitUntil(() => prefetching() === 0, 5_000, "the create event's inspect answered");
    expect((await engineApi(h.socket, 'DELETE', `/containers/${id}`)).status).toBe(204);
    await rec.next('deleted', id, 5_000);
    // Only an inspect answer knows the image id: no event carries it.
    expect((await client.get(id))?.image).toMatchObject({ name: TEST_IMAGE, id: buildTestImage().configDigest });
  });

  test(`${runtime}: a container removed before it could be inspected is described by its events' attributes (name, image, labels only)`, async () => {
    const h = harness();
    const client = track(new DockerClient(runtime, { socket: h.socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const toEvent = (client as unknown as { toEvent(line: string): unknown }).toEvent.bind(client);
    // An id the engine does not know: its inspect answers 404, as for a container already removed.
    const id = 'f'.repeat(64);
    const attributes = { name: 'gone', image: TEST_IMAGE, team: 'obs', exitCode: '0', containerExitCode: '0', podId: '' };
    toEvent(JSON.stringify({ Type: 'container', Action: 'create', Actor: { ID: id, Attributes: attributes } }));
    toEvent(JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: id, Attributes: attributes } }));
    const gone = await client.get(id);
    expect(gone).toMatchObject({ id, name: 'gone', runtime, state: 'stopped', pid: 0, image: { name: TEST_IMAGE, id: '', digest: '' } });
    expect(gone!.labels).toEqual({ team: 'obs' });
  });
}
