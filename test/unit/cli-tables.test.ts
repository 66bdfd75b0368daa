import type { ContainerInfo } from '../../src/events';
import { formatContainersTable } from '../../src/cli/containers';
import { formatChecks } from '../../src/cli/doctor';
import { formatTable } from '../../src/cli/table';

describe('formatTable', () => {
  test('pads each column to its widest cell, never the last cell of a row', () => {
    expect(formatTable([['a', 'bb', 'c'], ['ccc', 'd'], ['e']], { gap: ' | ' })).toBe('a   | bb | c\nccc | d\ne');
  });

  test('a minimum width holds even when every cell is narrower', () => {
    expect(formatTable([['ok', 'x']], { gap: ' ', minWidths: [4] })).toBe('ok   x');
  });
});

describe('formatChecks', () => {
  test('one line per check, statuses four wide, the fix indented under its check', () => {
    expect(
      formatChecks([
        { check: 'root', status: 'ok', detail: 'running as uid 0', fix: '' },
        { check: 'tracefs', status: 'fail', detail: 'not mounted', fix: 'mount it' },
      ]),
    ).toBe('ok    root: running as uid 0\nfail  tracefs: not mounted\n      fix: mount it');
    expect(formatChecks([{ check: 'root', status: 'ok', detail: 'running as uid 0', fix: '' }])).toBe('ok    root: running as uid 0');
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
