import * as path from 'node:path';
import type { ContainerInfo } from '../../src/events';
import { ContainerdClient, CriClient } from '../../src/processors/container-enrichment/runtime';
import { ContainerdHarness, CriPods, TEST_IMAGE, buildTestImage } from '../harness';
import { capturingLogger, containersJson, EventRecorder, expectContainer, mntns, uniq, waitHealthy, waitUntil } from './helpers';
import { requires } from '../harness/requires';

/** containerd's native API and its CRI plugin, against one private containerd shared by the file. */

const CRI_POLL_MS = 250;

requires('root', 'containerd', 'ctr', 'runc').describe('containerd runtime clients (real containerd with CRI)', () => {
  let h: ContainerdHarness;
  let pods: CriPods;
  const clients: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    buildTestImage();
    h = await ContainerdHarness.start({ cri: true });
    h.importImage('default');
    h.importImage('k8s.io');
    pods = new CriPods(h.socket, path.join(h.dir, 'pods'));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await pods?.close();
    await h?.stop();
  }, 60_000);

  test('a ctr container is listed with id, name, image (+digest), pid, mntns and labels; `containers --json` agrees', async () => {
    const id = uniq('ctr');
    const pid = h.runContainer(id, { labels: { team: 'obs' } });
    const client = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const want = { id, name: id, image: TEST_IMAGE, pid, runtime: 'containerd' };

    const listed = (await client.list()).find((c) => c.id === id);
    expectContainer(listed, want);
    expect(listed!.image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(listed!.labels.team).toBe('obs');
    expect(listed!.k8s).toBeUndefined();
    expectContainer(await client.get(id), want);
    expect(await client.get('no-such-container')).toBeUndefined();
    expect(client.healthy()).toBe(true);

    const cli = await containersJson(h.dir, { containerd: { socket: h.socket, namespaces: ['default'] } });
    expectContainer(
      cli.find((c) => c.id === id),
      want,
    );
    h.removeContainer(id);
  });

  test("CRI pod containers: containerd skips the sandbox; both report pid, mntns, k8s namespace/pod/uid/container, the pod's labels and annotations, the restart count", async () => {
    const pod = await pods.runPod({
      name: uniq('web'),
      namespace: 'shop',
      containerName: 'app',
      labels: { app: 'web', tier: 'front' },
      annotations: { 'example.com/owner': 'team-a' },
      restartCount: 2,
    });
    const pid = h.taskPid(pod.containerId, 'k8s.io');
    const k8s = {
      namespace: 'shop',
      podName: pod.name,
      podUid: pod.uid,
      containerName: 'app',
      // Exactly the pod's labels: not the kubelet's io.kubernetes.pod.* nor containerd's io.cri-containerd.kind.
      podLabels: { app: 'web', tier: 'front' },
      podAnnotations: {
        'example.com/owner': 'team-a',
        'kubernetes.io/config.seen': expect.any(String),
        'kubernetes.io/config.source': 'api',
      },
      restartCount: 2,
    };

    const native = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['k8s.io'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const nativeList = await native.list();
    expect(nativeList.map((c) => c.id)).not.toContain(pod.podId);
    const viaNative = nativeList.find((c) => c.id === pod.containerId);
    expectContainer(viaNative, { id: pod.containerId, name: 'app', image: TEST_IMAGE, pid, runtime: 'containerd' });
    expect(viaNative!.k8s).toEqual(k8s);

    const cri = track(
      new CriClient({ socket: h.socket, pollIntervalMs: CRI_POLL_MS }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const want = { id: pod.containerId, name: 'app', image: TEST_IMAGE, pid, runtime: 'cri' };
    const viaCri = (await cri.list()).find((c) => c.id === pod.containerId);
    expectContainer(viaCri, want);
    expect(viaCri!.k8s).toEqual(k8s);
    // An image imported offline has no repository digest: image_ref is the image id.
    expect(viaCri!.image).toMatchObject({ id: buildTestImage().configDigest, digest: '' });
    expect(viaCri!.engine).toBe('containerd');
    expect((await cri.list()).map((c) => c.id)).not.toContain(pod.podId);
    expect((await cri.get(pod.containerId))?.k8s).toEqual(k8s);

    const cli = await containersJson(h.dir, { cri: { enabled: true, socket: h.socket } });
    const viaCli = cli.find((c) => c.id === pod.containerId);
    expectContainer(viaCli, want);
    expect(viaCli!.k8s).toEqual(k8s);
    await pods.removePod(pod.podId);
  });

  test('containerd watch() reports start and exit within 1 s', async () => {
    const client = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const rec = new EventRecorder(client);
    await waitHealthy(client);
    const id = uniq('watch');
    const pid = h.runContainer(id);
    const started = await rec.next('started', id, 1_000);
    expect(started.pid).toBe(pid);
    expect(started.container?.mntns).toBe(mntns(pid));
    h.removeContainer(id);
    await rec.next('exited', id, 1_000);
    expect(rec.of(id).filter((k) => k === 'started')).toHaveLength(1);
  });

  test('identify() describes a container before its task exists (no task asked); a label change reaches it past the record cache', async () => {
    const client = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    client.watch(() => undefined);
    await waitHealthy(client);
    const id = uniq('created');
    // Cached from the /containers/create event once the watch sees it.
    h.ctr(['containers', 'create', '--label', 'team=obs', TEST_IMAGE, id, '/bin/true']);
    try {
      const identified = await client.identify(id);
      expect(identified).toMatchObject({ id, name: id, runtime: 'containerd', state: 'unknown', pid: 0, mntns: 0, sandbox: false });
      expect(identified!.image.name).toBe(TEST_IMAGE);
      expect(identified!.image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(identified!.labels).toMatchObject({ team: 'obs', 'io.containerd.namespace': 'default' });
      expect(await client.get(id)).toMatchObject({ id, state: 'created', pid: 0 });
      expect(await client.identify('no-such-container')).toBeUndefined();

      h.ctr(['containers', 'label', id, 'team=sre']);
      // The /containers/update event drops the cached record (kept up to 10 s otherwise).
      let team: string | undefined;
      for (const deadline = Date.now() + 5_000; Date.now() < deadline && team !== 'sre'; await new Promise((r) => setTimeout(r, 20))) {
        team = (await client.identify(id))?.labels.team;
      }
      expect(team).toBe('sre');
    } finally {
      h.ctr(['containers', 'delete', id]);
    }
  });

  test('a `ctr run --rm` container whose command exits at once is still described by get() and identify() once containerd has removed it', async () => {
    const client = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    client.watch(() => undefined);
    await waitHealthy(client);
    const id = uniq('rm');
    // Resolves once the task has exited and the container is deleted; async, so the client hears the events meanwhile.
    await h.ctrAsync(['run', '--rm', '--null-io', '--net-host', '--label', 'team=obs', TEST_IMAGE, id, '/bin/sh', '-c', 'exec echo hi']);
    expect(h.ctr(['containers', 'ls', '-q']).split('\n')).not.toContain(id);

    // Until the client hears `/containers/delete`, the record it fetched at creation still answers (state 'created').
    let gone: ContainerInfo | undefined;
    for (
      const deadline = Date.now() + 5_000;
      Date.now() < deadline && gone?.state !== 'stopped';
      await new Promise((r) => setTimeout(r, 20))
    ) {
      gone = await client.get(id);
    }
    for (const info of [gone, await client.identify(id)]) {
      expect(info).toMatchObject({ id, name: id, runtime: 'containerd', state: 'stopped', pid: 0, mntns: 0, sandbox: false });
      expect(info!.image.name).toBe(TEST_IMAGE);
      expect(info!.image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(info!.labels).toMatchObject({ team: 'obs', 'io.containerd.namespace': 'default' });
    }
  });

  test("pods heavy with labels and annotations (two of 200 labels at containerd's 4 KiB limit and 200 annotations of 10 KB): both clients list them whole, past gRPC's default 4 MiB answer", async () => {
    const heavy = (k: number) => {
      const labels: Record<string, string> = {};
      const annotations: Record<string, string> = {};
      for (let i = 0; i < 200; i++) {
        labels[`l${i}`] = 'v'.repeat(4000);
        annotations[`a${i}`] = 'w'.repeat(10 * 1024);
      }
      return pods.runPod({ name: uniq(`heavy${k}`), namespace: 'heavy', labels, annotations });
    };
    const both = [await heavy(1), await heavy(2)];
    try {
      const native = track(
        new ContainerdClient({ socket: h.socket, namespaces: ['k8s.io'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
      );
      const cri = track(
        new CriClient({ socket: h.socket, pollIntervalMs: CRI_POLL_MS }, { hostProc: '/proc', logger: capturingLogger().logger }),
      );
      for (const listed of [await native.list(), await cri.list()]) {
        for (const pod of both) {
          const k8s = listed.find((c) => c.id === pod.containerId)?.k8s;
          expect(Object.keys(k8s?.podLabels ?? {})).toHaveLength(200);
          // The pod's 200 and the kubelet's two (config.seen, config.source).
          expect(Object.keys(k8s?.podAnnotations ?? {})).toHaveLength(202);
          expect(k8s?.podAnnotations.a7).toHaveLength(10 * 1024);
        }
      }
    } finally {
      for (const pod of both) await pods.removePod(pod.podId);
    }
  });

  test('a CRI pod container that exited at once is still described by get() once its pod is removed', async () => {
    const cri = track(
      new CriClient({ socket: h.socket, pollIntervalMs: CRI_POLL_MS }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const pod = await pods.runPod({
      name: uniq('job'),
      namespace: 'batch',
      containerName: 'once',
      command: ['/bin/sh', '-c', 'exec echo hi'],
    });
    // As the enrichment asks when the container's cgroup appears; an exited container is still listed.
    // Stopping a pod whose container is exiting that moment can fail in containerd 1.6 ("ttrpc: closed").
    let exited: ContainerInfo | undefined;
    for (
      const deadline = Date.now() + 5_000;
      Date.now() < deadline && exited?.state !== 'stopped';
      await new Promise((r) => setTimeout(r, 20))
    ) {
      exited = await cri.get(pod.containerId);
    }
    expect(exited).toMatchObject({ name: 'once', state: 'stopped' });
    await pods.removePod(pod.podId);
    const listed = await pods.call<{ containers: { id: string }[] }>('ListContainers', {});
    expect(listed.containers.map((c) => c.id)).not.toContain(pod.containerId);

    const gone = await cri.get(pod.containerId);
    expect(gone).toMatchObject({ id: pod.containerId, name: 'once', runtime: 'cri', state: 'stopped', pid: 0, mntns: 0 });
    expect(gone!.image.name).toBe(TEST_IMAGE);
    expect(gone!.k8s).toEqual({
      namespace: 'batch',
      podName: pod.name,
      podUid: pod.uid,
      containerName: 'once',
      podLabels: { app: pod.name },
      podAnnotations: { 'kubernetes.io/config.seen': expect.any(String), 'kubernetes.io/config.source': 'api' },
      restartCount: 0,
    });
  });

  test('the cache of records prefetched at container creation is bounded: past 256, the oldest go and are counted', async () => {
    const client = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const onCreate = (client as unknown as { onContainerChange(ns: string, topic: string, payload: Buffer): void }).onContainerChange.bind(
      client,
    );
    expect(client.cacheEvictions()).toBe(0);
    for (let k = 0; k < 300; k++) {
      const id = Buffer.from(uniq('gone'));
      // A containers.v1 event payload: field 1 (id), length-delimited.
      onCreate('default', '/containers/create', Buffer.concat([Buffer.from([0x0a, id.length]), id]));
    }
    expect(client.cacheEvictions()).toBe(300 - 256);
  });

  test('all namespaces: a container in a namespace created after the list was cached is still found', async () => {
    const client = track(new ContainerdClient({ socket: h.socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    expect(await client.get('no-such-container')).toBeUndefined();
    const ns = uniq('ns');
    const id = uniq('late');
    h.importImage(ns);
    h.ctr(['containers', 'create', TEST_IMAGE, id, '/bin/true'], ns);
    try {
      let found: ContainerInfo | undefined;
      // An unknown id refreshes the cached namespace list at most once a second.
      for (const deadline = Date.now() + 5_000; Date.now() < deadline && !found; await new Promise((r) => setTimeout(r, 100))) {
        found = await client.get(id);
      }
      expect(found).toMatchObject({ id, state: 'created', labels: { 'io.containerd.namespace': ns } });
    } finally {
      h.ctr(['containers', 'delete', id], ns);
    }
  });

  test('CRI watch() reports a pod container start and exit within its poll interval', async () => {
    const cri = track(
      new CriClient({ socket: h.socket, pollIntervalMs: CRI_POLL_MS }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const rec = new EventRecorder(cri);
    await waitHealthy(cri);
    const pod = await pods.runPod({ name: uniq('job'), namespace: 'batch' });
    // One poll interval plus the listing itself.
    const started = await rec.next('started', pod.containerId, CRI_POLL_MS + 1_000);
    expect(started.container?.k8s?.podName).toBe(pod.name);
    expect(started.container?.mntns).toBeGreaterThan(0);
    await pods.stopContainer(pod.containerId);
    await rec.next('exited', pod.containerId, CRI_POLL_MS + 1_000);
    await pods.removePod(pod.podId);
  });

  test('a burst of containers started back to back is listed completely, each with its own mount namespace', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => uniq(`burst${i}`));
    const pids = await h.runContainers(ids);
    const client = track(
      new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const listed = new Map((await client.list()).map((c) => [c.id, c]));
    for (const id of ids) expectContainer(listed.get(id), { id, name: id, image: TEST_IMAGE, pid: pids.get(id)!, runtime: 'containerd' });
    expect(new Set(ids.map((id) => listed.get(id)!.mntns)).size).toBe(ids.length);
    for (const id of ids) h.removeContainer(id);
  });

  test('killing and restarting containerd while watching: reconnect, resync, no crash, no duplicates', async () => {
    const { logger, lines } = capturingLogger();
    const client = track(new ContainerdClient({ socket: h.socket, namespaces: ['default'] }, { hostProc: '/proc', logger }));
    const stays = uniq('stays');
    const goes = uniq('goes');
    h.runContainer(stays);
    h.runContainer(goes);
    const rec = new EventRecorder(client);
    await waitHealthy(client);

    await h.kill();
    // While containerd is down nothing can be asked; the shims keep the containers running.
    await waitUntil(() => !client.healthy(), 5_000);
    await h.restart();
    h.removeContainer(goes);
    const fresh = uniq('fresh');
    h.runContainer(fresh);

    await rec.next('exited', goes, 10_000);
    await rec.next('started', fresh, 10_000);
    await waitUntil(() => rec.resyncs > 0 && client.healthy(), 10_000);
    // The container that ran throughout produced no event at all; none was reported twice.
    expect(rec.of(stays)).toEqual([]);
    expect(rec.of(goes).filter((k) => k === 'exited')).toHaveLength(1);
    expect(rec.of(fresh).filter((k) => k === 'started')).toHaveLength(1);
    const ids = (await client.list()).map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([stays, fresh]));
    expect(ids).not.toContain(goes);
    // One warning for the outage, one note when it was over.
    expect(lines.filter((l) => l.includes(' warn '))).toHaveLength(1);
    expect(lines.some((l) => l.includes('reachable again'))).toBe(true);
    h.removeContainer(stays);
    h.removeContainer(fresh);
  }, 60_000);
});
