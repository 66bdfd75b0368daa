import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  CriClient,
  RuntimeUnavailableError,
  createRuntimeClients,
  listAllContainers,
  type RuntimeClient,
} from '../../src/processors/container-enrichment/runtime';
import { capturingLogger, refusingSocket } from './helpers';

describe('socket discovery and unreachable runtimes', () => {
  let hostRoot: string;
  const clients: RuntimeClient[] = [];

  beforeEach(() => {
    hostRoot = mkdtempSync(path.join(tmpdir(), 'eco-hostroot-'));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    rmSync(hostRoot, { recursive: true, force: true });
  });

  test('absent runtimes are skipped silently', () => {
    const { logger, lines } = capturingLogger();
    expect(createRuntimeClients({}, { hostRoot, hostProc: '/proc', logger })).toEqual([]);
    expect(lines).toEqual([]);
  });

  test('well-known sockets are found under the host root; enabled:false and configured paths win', () => {
    refusingSocket(path.join(hostRoot, 'run/containerd/containerd.sock'));
    refusingSocket(path.join(hostRoot, 'var/run/docker.sock'));
    mkdirSync(path.join(hostRoot, 'var/lib/lxc'), { recursive: true });
    const { logger } = capturingLogger();
    const found = createRuntimeClients({}, { hostRoot, hostProc: '/proc', logger });
    clients.push(...found);
    expect(found.map((c) => [c.runtime, c.endpoint]).sort()).toEqual(
      [
        ['containerd', `${hostRoot}/run/containerd/containerd.sock`],
        ['docker', `${hostRoot}/var/run/docker.sock`],
        ['lxc', `${hostRoot}/var/lib/lxc`],
      ].sort(),
    );

    const configured = createRuntimeClients(
      { docker: { enabled: false }, lxc: { enabled: false }, containerd: { socket: '/elsewhere/containerd.sock' }, cri: { enabled: true } },
      { hostRoot, hostProc: '/proc', logger },
    );
    clients.push(...configured);
    // cri enabled: containerd's own socket under the host root is a CRI endpoint too.
    expect(configured.map((c) => [c.runtime, c.endpoint]).sort()).toEqual(
      [
        ['containerd', '/elsewhere/containerd.sock'],
        ['cri', `${hostRoot}/run/containerd/containerd.sock`],
      ].sort(),
    );
  });

  test('a socket that refuses connections gives exactly one clear warning per runtime, retries, and never throws from watch()', async () => {
    refusingSocket(path.join(hostRoot, 'run/containerd/containerd.sock'));
    refusingSocket(path.join(hostRoot, 'var/run/docker.sock'));
    const criSocket = path.join(hostRoot, 'run/crio/crio.sock');
    refusingSocket(criSocket);
    const { logger, lines } = capturingLogger();
    const found = createRuntimeClients({ cri: { poll_interval: '100ms' } }, { hostRoot, hostProc: '/proc', logger });
    clients.push(...found);
    expect(found.map((c) => c.runtime).sort()).toEqual(['containerd', 'cri', 'docker']);

    let events = 0;
    for (const c of found) c.watch(() => events++);
    for (let round = 0; round < 3; round++) {
      for (const c of found) {
        await expect(c.list()).rejects.toThrow(RuntimeUnavailableError);
        await expect(c.list()).rejects.toThrow(/connection refused/);
        expect(c.healthy()).toBe(false);
      }
      // Let watch() retry in between (backoff starts at 250 ms).
      await new Promise((r) => setTimeout(r, 300));
    }
    const { containers, errors } = await listAllContainers(found);
    expect(containers).toEqual([]);
    expect(errors.map((e) => e.runtime).sort()).toEqual(['containerd', 'cri', 'docker']);

    const warnings = lines.filter((l) => l.includes(' warn '));
    expect(warnings).toHaveLength(3);
    for (const c of found) {
      const mine = warnings.filter((w) => w.includes(c.endpoint));
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatch(/connection refused \(the daemon is not running or not listening on this socket\); retrying with backoff/);
    }
    expect(events).toBe(0);
  });

  test('an enabled runtime whose socket is missing says so', async () => {
    const { logger, lines } = capturingLogger();
    const cri = new CriClient({ socket: path.join(hostRoot, 'missing.sock') }, { hostProc: '/proc', logger });
    clients.push(cri);
    await expect(cri.list()).rejects.toThrow(/missing\.sock: .*(socket not found|No such file|connection refused)/);
    expect(lines.filter((l) => l.includes(' warn '))).toHaveLength(1);
  });
});
