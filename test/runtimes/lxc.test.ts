import { symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { LxcClient } from '../../src/processors/container-enrichment/runtime';
import { LxcHarness } from '../harness';
import { capturingLogger, containersJson, EventRecorder, expectContainer, uniq, waitHealthy } from './helpers';
import { requires } from '../harness/requires';

const POLL_MS = 250;

requires('root', 'lxc-create', 'lxc-start', 'lxc-info', 'lxc-stop', 'busybox').describe('LXC runtime client (real LXC containers)', () => {
  let h: LxcHarness;
  const clients: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(c: T): T => (clients.push(c), c);

  beforeAll(() => {
    h = new LxcHarness();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    h?.stop();
  }, 60_000);

  test('a started LXC container is listed with name, pid, mntns and state; `containers --json` agrees', async () => {
    const name = uniq('lxc');
    const pid = await h.start(name);
    const client = track(
      new LxcClient({ lxcpaths: [h.lxcpath], pollIntervalMs: POLL_MS }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const want = { id: name, name, image: 'busybox', pid, runtime: 'lxc' };

    const listed = (await client.list()).find((c) => c.id === name);
    expectContainer(listed, want);
    expect(listed!.cgroupPath).toContain(name);
    expectContainer(await client.get(name), want);
    expect(await client.get('no-such-container')).toBeUndefined();

    const cli = await containersJson(h.dir, { lxc: { lxcpath: [h.lxcpath] } });
    expectContainer(
      cli.find((c) => c.id === name),
      want,
    );

    // The same lxcpath under another name (as through a /host prefix): lxc-info cannot reach
    // the monitor there, so state and init pid come from the container's cgroup.
    const alias = path.join(h.dir, 'alias');
    symlinkSync(h.lxcpath, alias);
    const viaAlias = track(new LxcClient({ lxcpaths: [alias] }, { hostProc: '/proc', logger: capturingLogger().logger }));
    expectContainer(await viaAlias.get(name), want);

    // Only lxc-info knows a frozen container from a running one.
    h.freeze(name, true);
    expect(await client.get(name)).toMatchObject({ state: 'paused', pid });
    h.freeze(name, false);

    h.stopContainer(name);
    expect((await client.list()).find((c) => c.id === name)).toMatchObject({ state: 'stopped', pid: 0, mntns: 0 });
    h.destroy(name);
  });

  test('watch() reports start and exit within the poll interval', async () => {
    const client = track(
      new LxcClient({ lxcpaths: [h.lxcpath], pollIntervalMs: POLL_MS }, { hostProc: '/proc', logger: capturingLogger().logger }),
    );
    const rec = new EventRecorder(client);
    await waitHealthy(client);
    const name = uniq('watch');
    const pid = await h.start(name);
    // One poll interval plus the listing (one lxc-info per container).
    const started = await rec.next('started', name, POLL_MS + 1_000);
    expect(started.pid).toBe(pid);
    h.stopContainer(name);
    await rec.next('exited', name, POLL_MS + 1_000);
    expect(rec.of(name)).toEqual(['started', 'exited']);
    h.destroy(name);
  });
});
