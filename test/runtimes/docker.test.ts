import { DockerClient } from '../../src/processors/container-enrichment/runtime';
import { DockerHarness, buildTestImage } from '../harness';
import { engineApiTests } from './engine-suite';
import { capturingLogger, describeWithDaemon, EventRecorder, uniq, waitHealthy, waitUntil } from './helpers';

describeWithDaemon('Docker runtime client (real dockerd)', ['dockerd', 'docker', 'containerd', 'runc'], () => {
  let h: DockerHarness;
  const clients: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    buildTestImage();
    h = await DockerHarness.start();
    h.loadImage();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await h?.stop();
  }, 60_000);

  engineApiTests('docker', () => h, track);

  test('killing and restarting dockerd while watching: reconnect, resync, no crash, no duplicates', async () => {
    const { logger, lines } = capturingLogger();
    const client = track(new DockerClient('docker', { socket: h.socket }, { hostProc: '/proc', logger }));
    const stays = h.runContainer(uniq('stays'));
    const rec = new EventRecorder(client);
    await waitHealthy(client);

    await h.kill();
    await waitUntil(() => !client.healthy(), 5_000, 'client noticed dockerd is gone');
    await h.restart();
    const fresh = h.runContainer(uniq('fresh'));

    await rec.next('started', fresh, 10_000);
    await waitUntil(() => rec.resyncs > 0 && client.healthy(), 10_000, 'resync after reconnect');
    // live-restore kept `stays` running: it produced no event; nothing was reported twice.
    expect(rec.of(stays)).toEqual([]);
    expect(rec.of(fresh).filter((k) => k === 'started')).toHaveLength(1);
    const ids = (await client.list()).map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining([stays, fresh]));
    expect(lines.filter((l) => l.includes(' warn '))).toHaveLength(1);
    h.removeContainer(stays);
    h.removeContainer(fresh);
  }, 90_000);
});
