import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ContainerInfo } from '../../src/events';
import {
  CriClient,
  RuntimeUnavailableError,
  createRuntimeClients,
  formatContainersTable,
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

describe('formatContainersTable', () => {
  const base: ContainerInfo = {
    id: '0123456789abcdef0123',
    name: 'web',
    runtime: 'cri',
    state: 'running',
    pid: 4242,
    mntns: 4026532181,
    cgroupPath: '/k8s.io/0123',
    image: { name: 'localhost/web:1', id: '', digest: 'sha256:00' },
    labels: {},
    k8s: {
      namespace: 'shop',
      podName: 'web-5dd5756b68-7xkqv',
      podUid: 'u-1',
      containerName: 'app',
      podLabels: { app: 'web', 'pod-template-hash': '5dd5756b68' },
      podAnnotations: {},
      workload: { kind: 'Deployment', name: 'web', replicaSet: 'web-5dd5756b68' },
    },
    sandbox: false,
    startedAt: '',
  };

  test('one aligned row per container, ids cut to 12 characters, the workload as kind/name, dashes for what is unknown', () => {
    const bare = { ...base, id: 'eeee', k8s: { ...base.k8s!, podName: 'debug', workload: undefined } };
    const table = formatContainersTable([
      base,
      { ...base, id: 'ffff', runtime: 'docker', name: 'db', pid: 0, mntns: 0, k8s: undefined, state: 'stopped' },
      bare,
    ]);
    const [header, row1, row2, row3] = table.trimEnd().split('\n');
    expect(header.split(/\s{2,}/)).toEqual([
      'RUNTIME',
      'CONTAINER ID',
      'NAME',
      'STATE',
      'PID',
      'MNTNS',
      'IMAGE',
      'NAMESPACE',
      'POD',
      'WORKLOAD',
      'K8S CONTAINER',
    ]);
    expect(row1.split(/\s{2,}/)).toEqual([
      'cri',
      '0123456789ab',
      'web',
      'running',
      '4242',
      '4026532181',
      'localhost/web:1',
      'shop',
      'web-5dd5756b68-7xkqv',
      'Deployment/web',
      'app',
    ]);
    expect(row2.split(/\s{2,}/)).toEqual(['docker', 'ffff', 'db', 'stopped', '-', '-', 'localhost/web:1', '-', '-', '-', '-']);
    expect(row3.split(/\s{2,}/)).toEqual([
      'cri',
      'eeee',
      'web',
      'running',
      '4242',
      '4026532181',
      'localhost/web:1',
      'shop',
      'debug',
      '-',
      'app',
    ]);
    expect(header.indexOf('WORKLOAD')).toBe(row1.indexOf('Deployment/web'));
    // Columns line up: every row starts its IMAGE column at the same offset.
    const at = header.indexOf('IMAGE');
    expect(row1.slice(at).startsWith('localhost/web:1')).toBe(true);
    expect(row2.slice(at).startsWith('localhost/web:1')).toBe(true);
  });
});
