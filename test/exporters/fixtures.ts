import { Registry } from 'prom-client';
import { BootClock, type ContainerInfo, EventBatch, encodeRecords, type RecordSpec } from '../../src/events';
import type { ComponentSettings } from '../../src/pipeline/component';
import { createLogger } from '../../src/pipeline/logger';
import { PipelineTelemetry } from '../../src/pipeline/telemetry';

export const HOST = { hostname: 'node-a.example', nodeName: 'node-a' };

/**
 * A clock that stands still at `nowEpochNs`, `bootNowNs` after boot: encoders observe every
 * record at exactly that instant, and the fixtures' records (stamped earlier) are before it.
 */
export function stoppedClock(nowEpochNs = 1_700_000_000_123_456_789n, bootNowNs = 10_000_000_000_000n): BootClock {
  return new BootClock({ bootNowNs: () => bootNowNs, realtimeMinusBootNs: () => nowEpochNs - bootNowNs });
}

/** A CRI (Kubernetes) container, a plain Docker container; index-aligned with host events as null. */
const REPO_DIGEST = `registry.local:5000/team/web@sha256:${'ab'.repeat(32)}`;
const DOCKER_IMAGE_ID = `sha256:${'cd'.repeat(32)}`;

export const POD_CONTAINER: ContainerInfo = {
  id: 'c0ffee0000000000000000000000000000000000000000000000000000000001',
  name: 'web',
  runtime: 'cri',
  state: 'running',
  pid: 4242,
  mntns: 4026532001,
  cgroupPath: '/kubepods/besteffort/pod1234/c0ffee',
  image: { name: 'registry.local:5000/team/web:1.2.3', id: REPO_DIGEST, digest: REPO_DIGEST },
  engine: 'containerd',
  labels: { 'io.kubernetes.pod.name': 'web-5dd5756b68-7xkqv' },
  k8s: {
    namespace: 'shop',
    podName: 'web-5dd5756b68-7xkqv',
    podUid: '6f1c3c1e-0000-4000-8000-000000000001',
    containerName: 'web',
    podLabels: {
      app: 'web',
      'app.kubernetes.io/name': 'web',
      'app.kubernetes.io/version': '1.2.3',
      'pod-template-hash': '5dd5756b68',
      team: 'checkout',
    },
    podAnnotations: { 'example.com/owner': 'team-a' },
    workload: { kind: 'Deployment', name: 'web', replicaSet: 'web-5dd5756b68' },
    restartCount: 1,
  },
  sandbox: false,
  startedAt: '2026-01-01T00:00:00Z',
};

export const DOCKER_CONTAINER: ContainerInfo = {
  id: 'd0c0000000000000000000000000000000000000000000000000000000000002',
  name: 'batch-job',
  runtime: 'docker',
  state: 'running',
  pid: 5151,
  mntns: 4026532002,
  cgroupPath: '/docker/d0c0',
  image: { name: 'busybox:latest', id: DOCKER_IMAGE_ID, digest: '' },
  labels: {},
  sandbox: false,
  startedAt: '',
};

export function sampleSpecs(): RecordSpec[] {
  return [
    {
      type: 'exec',
      tsBootNs: 1_000_000_000n,
      pid: 101,
      tgid: 101,
      ppid: 1,
      uid: 1000,
      mntns: POD_CONTAINER.mntns,
      cgroupId: 77,
      comm: 'curl',
      filename: '/usr/bin/curl',
      args: ['curl', '-s', 'http://x/ä'],
    },
    {
      type: 'open',
      tsBootNs: 1_000_000_500n,
      pid: 102,
      tgid: 101,
      ppid: 1,
      mntns: POD_CONTAINER.mntns,
      cgroupId: 77,
      comm: 'curl',
      path: '/etc/missing',
      flags: 0o2,
      ret: -2,
    },
    {
      type: 'connect',
      tsBootNs: 1_000_001_000n,
      pid: 101,
      ppid: 1,
      mntns: DOCKER_CONTAINER.mntns,
      comm: 'wget',
      family: 4,
      address: new Uint8Array([10, 0, 0, 7]),
      port: 443,
      ret: 0,
      sockType: 1,
    },
    {
      type: 'connect',
      tsBootNs: 1_000_001_500n,
      pid: 101,
      ppid: 1,
      mntns: DOCKER_CONTAINER.mntns,
      comm: 'wget',
      family: 6,
      address: new Uint8Array([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
      port: 53,
      ret: -111,
      sockType: 2,
    },
    {
      type: 'exit',
      tsBootNs: 1_000_002_000n,
      pid: 300,
      ppid: 2,
      mntns: 4026531840,
      comm: 'cron',
      exitCode: 3,
      exitSignal: 9,
      durationNs: 5_000n,
    },
  ];
}

export const SAMPLE_CONTAINERS: Array<ContainerInfo | null> = [POD_CONTAINER, POD_CONTAINER, DOCKER_CONTAINER, DOCKER_CONTAINER, null];

export function sampleBatch(clock = stoppedClock()): EventBatch {
  const { batch, malformed } = EventBatch.parse(encodeRecords(sampleSpecs()), clock);
  if (malformed !== 0) throw new Error('sample records did not parse');
  batch.containers = SAMPLE_CONTAINERS;
  return batch;
}

/** `count` exec records spread over `containers` round-robin, ~`argBytes` of argv each. */
export function execBatch(count: number, containers: Array<ContainerInfo | null>, startSeq = 0, argBytes = 120): EventBatch {
  const specs: RecordSpec[] = [];
  const arg = 'x'.repeat(argBytes);
  for (let k = 0; k < count; k++) {
    const seq = startSeq + k;
    specs.push({
      type: 'exec',
      tsBootNs: BigInt(seq),
      pid: seq % 4_000_000,
      ppid: 1,
      mntns: 1,
      comm: 'bench',
      filename: '/usr/bin/true',
      args: ['/usr/bin/true', String(seq), arg],
    });
  }
  const { batch } = EventBatch.parse(encodeRecords(specs), stoppedClock());
  batch.containers = specs.map((_s, k) => containers[k % containers.length]);
  return batch;
}

export interface TestSettings extends ComponentSettings {
  telemetry: PipelineTelemetry;
  logLines: string[];
}

export function testSettings(id: string, registry = new Registry()): TestSettings {
  const telemetry = new PipelineTelemetry(registry);
  const logLines: string[] = [];
  return {
    id,
    logger: createLogger('debug', id, (l) => logLines.push(l)),
    metrics: registry,
    stage: telemetry.stage(id),
    host: HOST,
    clock: stoppedClock(),
    telemetry,
    logLines,
  };
}

/* ---- checking an ExportLogsServiceRequest in its protobuf-JSON form ---- */

interface JsonAnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  arrayValue?: { values?: JsonAnyValue[] };
}
interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}
export interface JsonLogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  eventName?: string;
  body: JsonAnyValue;
  attributes: JsonKeyValue[];
}
export interface JsonRequest {
  resourceLogs: Array<{
    resource: { attributes: JsonKeyValue[] };
    scopeLogs: Array<{ scope: { name: string; version: string }; logRecords: JsonLogRecord[] }>;
  }>;
}

export type Plain = string | boolean | string[];
export function plain(v: JsonAnyValue): Plain {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map((x) => String(plain(x)));
  throw new Error(`unexpected AnyValue ${JSON.stringify(v)}`);
}
export function attrs(list: JsonKeyValue[]): Record<string, Plain> {
  const out: Record<string, Plain> = {};
  for (const kv of list) {
    if (kv.key in out) throw new Error(`duplicate attribute ${kv.key}`);
    out[kv.key] = plain(kv.value);
  }
  return out;
}

export interface FlatRecord {
  resource: Record<string, Plain>;
  scope: { name: string; version: string };
  record: JsonLogRecord;
  attributes: Record<string, Plain>;
}

/** Every LogRecord of a request with its resource's and its own attributes as plain values. */
export function flatRecords(req: JsonRequest): FlatRecord[] {
  return req.resourceLogs.flatMap((rl) => {
    const resource = attrs(rl.resource.attributes);
    return rl.scopeLogs.flatMap((sl) =>
      sl.logRecords.map((record) => ({ resource, scope: sl.scope, record, attributes: attrs(record.attributes) })),
    );
  });
}

/** Records by resource `container.id` ('' = host). */
export function byContainer(req: JsonRequest): Map<string, { resource: Record<string, Plain>; records: JsonLogRecord[] }> {
  const out = new Map<string, { resource: Record<string, Plain>; records: JsonLogRecord[] }>();
  for (const rl of req.resourceLogs) {
    const resource = attrs(rl.resource.attributes);
    const id = String(resource['container.id'] ?? '');
    const entry = out.get(id) ?? { resource, records: [] };
    for (const sl of rl.scopeLogs) {
      expect(sl.scope.name).toBe('ebpf-container-otel');
      entry.records.push(...sl.logRecords);
    }
    out.set(id, entry);
  }
  return out;
}

/** Field-by-field expectations for `sampleBatch()` (docs/otlp-mapping.md). */
export function expectSampleRequest(req: JsonRequest, batch: EventBatch): void {
  const groups = byContainer(req);
  expect([...groups.keys()].sort()).toEqual(['', DOCKER_CONTAINER.id, POD_CONTAINER.id].sort());

  expect(groups.get(POD_CONTAINER.id)!.resource).toEqual({
    'service.name': 'ebpf-container-otel',
    'host.name': HOST.hostname,
    'k8s.node.name': HOST.nodeName,
    'container.id': POD_CONTAINER.id,
    'container.name': 'web',
    'container.runtime.name': 'containerd',
    'container.image.name': 'registry.local:5000/team/web',
    'container.image.id': REPO_DIGEST,
    'container.image.tags': ['1.2.3'],
    'container.image.repo_digests': [REPO_DIGEST],
    'k8s.namespace.name': 'shop',
    'k8s.pod.name': 'web-5dd5756b68-7xkqv',
    'k8s.pod.uid': '6f1c3c1e-0000-4000-8000-000000000001',
    'k8s.container.name': 'web',
    'k8s.container.restart_count': '1',
    'k8s.replicaset.name': 'web-5dd5756b68',
    'k8s.deployment.name': 'web',
    // The default allow-list: app, app.kubernetes.io/*, …; not pod-template-hash nor team.
    'k8s.pod.label.app': 'web',
    'k8s.pod.label.app.kubernetes.io/name': 'web',
    'k8s.pod.label.app.kubernetes.io/version': '1.2.3',
  });
  expect(groups.get(DOCKER_CONTAINER.id)!.resource).toEqual({
    'service.name': 'ebpf-container-otel',
    'host.name': HOST.hostname,
    'k8s.node.name': HOST.nodeName,
    'container.id': DOCKER_CONTAINER.id,
    'container.name': 'batch-job',
    'container.runtime.name': 'docker',
    'container.image.name': 'busybox',
    'container.image.id': DOCKER_IMAGE_ID,
    'container.image.tags': ['latest'],
  });
  expect(groups.get('')!.resource).toEqual({
    'service.name': 'ebpf-container-otel',
    'host.name': HOST.hostname,
    'k8s.node.name': HOST.nodeName,
  });

  // Observed when encoded, by the batch's own clock, at ns precision; never before the record.
  for (const rec of [...groups.values()].flatMap((g) => g.records)) {
    expect(rec.observedTimeUnixNano).toBe(String(batch.clock.nowEpochNs()));
    expect(BigInt(rec.timeUnixNano)).toBeLessThanOrEqual(BigInt(rec.observedTimeUnixNano));
  }
  const [exec, open] = groups.get(POD_CONTAINER.id)!.records;
  expect(exec.timeUnixNano).toBe(String(batch.timeUnixNs(0)));
  expect([exec.severityNumber, exec.severityText, exec.eventName]).toEqual([9, 'INFO', 'process.exec']);
  expect(plain(exec.body)).toBe('exec /usr/bin/curl');
  expect(attrs(exec.attributes)).toEqual({
    'process.executable.path': '/usr/bin/curl',
    'process.command_args': ['curl', '-s', 'http://x/ä'],
    'process.pid': '101',
    'thread.id': '101',
    'process.parent_pid': '1',
    'process.executable.name': 'curl',
    'process.real_user.id': '1000',
    'process.real_group.id': '0',
    'linux.mnt_ns.id': String(POD_CONTAINER.mntns),
    'linux.cgroup.id': '77',
  });
  expect(open.timeUnixNano).toBe(String(batch.timeUnixNs(1)));
  expect([open.severityNumber, open.severityText, open.eventName]).toEqual([13, 'WARN', 'file.open']);
  expect(plain(open.body)).toBe('open /etc/missing');
  expect(attrs(open.attributes)).toEqual({
    'file.path': '/etc/missing',
    'linux.open.flags': '2',
    'error.type': 'ENOENT',
    'process.pid': '101',
    'thread.id': '102',
    'process.parent_pid': '1',
    'process.executable.name': 'curl',
    'process.real_user.id': '0',
    'process.real_group.id': '0',
    'linux.mnt_ns.id': String(POD_CONTAINER.mntns),
    'linux.cgroup.id': '77',
  });

  const [c4, c6] = groups.get(DOCKER_CONTAINER.id)!.records;
  expect([c4.severityNumber, c4.eventName, plain(c4.body)]).toEqual([9, 'network.connect', 'connect 10.0.0.7:443']);
  expect(attrs(c4.attributes)).toMatchObject({
    'network.peer.address': '10.0.0.7',
    'network.peer.port': '443',
    'network.transport': 'tcp',
    'network.type': 'ipv4',
    'process.executable.name': 'wget',
  });
  expect(attrs(c4.attributes)['error.type']).toBeUndefined();
  expect([c6.severityNumber, c6.severityText, plain(c6.body)]).toEqual([13, 'WARN', 'connect [fd00::1]:53']);
  expect(attrs(c6.attributes)).toMatchObject({
    'network.peer.address': 'fd00::1',
    'network.peer.port': '53',
    'network.transport': 'udp',
    'network.type': 'ipv6',
    'error.type': 'ECONNREFUSED',
  });

  const [exit] = groups.get('')!.records;
  expect([exit.severityNumber, exit.eventName, plain(exit.body)]).toEqual([9, 'process.exit', 'exit 3']);
  expect(attrs(exit.attributes)).toMatchObject({
    'process.exit.code': '3',
    'linux.process.exit_signal': '9',
    'linux.process.duration_ns': '5000',
    'process.pid': '300',
    'process.parent_pid': '2',
    'linux.mnt_ns.id': '4026531840',
  });
}
