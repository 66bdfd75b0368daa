import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PodMetadataPolicy, createDefaultPodMetadataConfig, resourceAttributes } from '../../src/exporters/log-mapping';
import { DockerClient } from '../../src/processors/container-enrichment/runtime';
import { DockerHarness, TEST_IMAGE } from '../harness';
import { engineSuite } from './engine-suite';
import { capturingLogger, EventRecorder, uniq, waitHealthy, waitUntil } from './helpers';
import { requires } from '../harness/requires';

requires('root', 'dockerd', 'docker', 'containerd', 'runc').describe('Docker runtime client (real dockerd)', () => {
  const { harness, track } = engineSuite('docker', () => DockerHarness.start());

  test("a pod run the way cri-dockerd runs it: the container carries the pod's labels and annotations (from its sandbox), the workload and the restart count; the sandbox is not listed", async () => {
    const client = track(new DockerClient('docker', { socket: harness().socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const pod = {
      name: `api-7854ff8877-${uniq('p')
        .slice(-5)
        .replace(/[^a-z0-9]/g, 'x')}`,
      namespace: 'shop',
      uid: `${uniq('uid')}`,
    };
    const kubelet = { 'io.kubernetes.pod.name': pod.name, 'io.kubernetes.pod.namespace': pod.namespace, 'io.kubernetes.pod.uid': pod.uid };
    // cri-dockerd's makeLabels: CRI labels, then each CRI annotation as annotation.<key>, then its own.
    const sandbox = harness().runContainer(`k8s_POD_${pod.name}_${pod.namespace}_${pod.uid}_0`, undefined, {
      ...kubelet,
      app: 'api',
      'app.kubernetes.io/name': 'api',
      'pod-template-hash': '7854ff8877',
      'annotation.kubernetes.io/config.seen': '2025-11-30T10:00:00.000000000Z',
      'annotation.kubernetes.io/config.source': 'api',
      'annotation.example.com/owner': 'team-a',
      'io.kubernetes.container.name': 'POD',
      'io.kubernetes.docker.type': 'podsandbox',
    });
    const container = harness().runContainer(`k8s_app_${pod.name}_${pod.namespace}_${pod.uid}_3`, undefined, {
      ...kubelet,
      'io.kubernetes.container.name': 'app',
      'annotation.io.kubernetes.container.hash': 'a1b2c3d4',
      'annotation.io.kubernetes.container.restartCount': '3',
      'annotation.io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'annotation.io.kubernetes.container.terminationMessagePolicy': 'File',
      'annotation.io.kubernetes.pod.terminationGracePeriod': '30',
      'io.kubernetes.container.logpath': `/var/log/pods/${pod.namespace}_${pod.name}_${pod.uid}/app/3.log`,
      'io.kubernetes.docker.type': 'container',
      'io.kubernetes.sandbox.id': sandbox,
    });
    try {
      const want = {
        namespace: 'shop',
        podName: pod.name,
        podUid: pod.uid,
        containerName: 'app',
        podLabels: { app: 'api', 'app.kubernetes.io/name': 'api', 'pod-template-hash': '7854ff8877' },
        podAnnotations: {
          'kubernetes.io/config.seen': '2025-11-30T10:00:00.000000000Z',
          'kubernetes.io/config.source': 'api',
          'example.com/owner': 'team-a',
        },
        workload: { kind: 'Deployment', name: 'api', replicaSet: 'api-7854ff8877' },
        restartCount: 3,
      };
      expect((await client.get(container))?.k8s).toEqual(want);
      const listed = await client.list();
      expect(listed.map((c) => c.id)).not.toContain(sandbox);
      expect(listed.find((c) => c.id === container)?.k8s).toEqual(want);
      expect(await client.get(sandbox)).toBeUndefined();
    } finally {
      harness().removeContainer(container);
      harness().removeContainer(sandbox);
    }
  });

  test('a cri-dockerd pod of 200 labels with 10 KB values: described whole, nothing thrown; its resource has 32 labels of 256 bytes, the rest counted', async () => {
    const client = track(new DockerClient('docker', { socket: harness().socket }, { hostProc: '/proc', logger: capturingLogger().logger }));
    const pod = { name: 'big', namespace: 'shop', uid: uniq('uid') };
    const kubelet = { 'io.kubernetes.pod.name': pod.name, 'io.kubernetes.pod.namespace': pod.namespace, 'io.kubernetes.pod.uid': pod.uid };
    const lines = Object.entries({ ...kubelet, 'io.kubernetes.container.name': 'POD', 'io.kubernetes.docker.type': 'podsandbox' }).map(
      ([k, v]) => `${k}=${v}`,
    );
    for (let k = 0; k < 200; k++) lines.push(`app.kubernetes.io/l${String(k).padStart(3, '0')}=${'v'.repeat(10 * 1024)}`);
    // Docker, unlike containerd, takes labels of any size; 2 MB of them do not fit a command line.
    const labelFile = path.join(harness().dir, `${pod.uid}.labels`);
    writeFileSync(labelFile, `${lines.join('\n')}\n`);
    const sandbox = harness().docker([
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      `k8s_POD_big_shop_${pod.uid}_0`,
      '--label-file',
      labelFile,
      TEST_IMAGE,
      '/bin/sleep',
      '100000',
    ]);
    const container = harness().runContainer(`k8s_app_big_shop_${pod.uid}_0`, undefined, {
      ...kubelet,
      'io.kubernetes.container.name': 'app',
      'io.kubernetes.docker.type': 'container',
      'io.kubernetes.sandbox.id': sandbox,
    });
    try {
      const info = await client.get(container);
      expect(Object.keys(info!.k8s!.podLabels)).toHaveLength(200);
      expect(info!.k8s!.podLabels['app.kubernetes.io/l007']).toHaveLength(10 * 1024);
      const cuts: Array<[string, string, number]> = [];
      const policy = new PodMetadataPolicy(createDefaultPodMetadataConfig(), (kind, reason, n) => cuts.push([kind, reason, n]));
      const labels = resourceAttributes(info!, { hostname: 'h', nodeName: '' }, {}, policy).filter((a) =>
        a.key.startsWith('k8s.pod.label.'),
      );
      expect(labels).toHaveLength(32);
      for (const a of labels) expect(Buffer.byteLength(String(a.value))).toBe(256);
      expect(cuts.sort()).toEqual([
        ['label', 'count', 168],
        ['label', 'length', 32],
      ]);
    } finally {
      harness().removeContainer(container);
      harness().removeContainer(sandbox);
    }
  });

  test('killing and restarting dockerd while watching: reconnect, resync, no crash, no duplicates', async () => {
    const { logger, lines } = capturingLogger();
    const client = track(new DockerClient('docker', { socket: harness().socket }, { hostProc: '/proc', logger }));
    const stays = harness().runContainer(uniq('stays'));
    const rec = new EventRecorder(client);
    await waitHealthy(client);

    await harness().kill();
    await waitUntil(() => !client.healthy(), 5_000, 'client noticed dockerd is gone');
    await harness().restart();
    const fresh = harness().runContainer(uniq('fresh'));

    await rec.next('started', fresh, 10_000);
    await waitUntil(() => rec.resyncs > 0 && client.healthy(), 10_000, 'resync after reconnect');
    // live-restore kept `stays` running: it produced no event; nothing was reported twice.
    expect(rec.of(stays)).toEqual([]);
    expect(rec.of(fresh).filter((k) => k === 'started')).toHaveLength(1);
    const ids = (await client.list()).map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([stays, fresh]));
    expect(lines.filter((l) => l.includes(' warn '))).toHaveLength(1);
    harness().removeContainer(stays);
    harness().removeContainer(fresh);
  }, 90_000);
});
