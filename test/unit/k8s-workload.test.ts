/**
 * Workloads from a pod's labels and name alone, and the pod's labels and annotations as each
 * runtime keeps them. Label sets are those Kubernetes' controllers and the kubelet produce (the
 * values as `kubectl get pods --show-labels` shows them on real clusters); the cri-dockerd ones
 * are the Docker labels cri-dockerd makes from the kubelet's CRI requests (its `makeLabels`).
 */
import {
  podLabelsOfSandbox,
  podMetadataOfDockerSandbox,
  withPodMetadata,
  workloadOf,
} from '../../src/processors/container-enrichment/runtime/kubernetes';

/** 2026-01-01T00:00Z; the CronJob tests' Jobs were scheduled before it. */
const NOW = Date.UTC(2026, 0, 1);
const minutes = (iso: string) => Date.parse(iso) / 60_000;

describe('workloadOf: only what the labels and name prove', () => {
  test.each([
    [
      'Deployment (kubeadm coredns)',
      'coredns-5dd5756b68-7xkqv',
      { 'k8s-app': 'kube-dns', 'pod-template-hash': '5dd5756b68' },
      { kind: 'Deployment', name: 'coredns', replicaSet: 'coredns-5dd5756b68' },
    ],
    [
      'Deployment with dashes in its name',
      'nginx-dmz-57cdc7848c-9bsft',
      { location: 'dmz', run: 'nginx', 'pod-template-hash': '57cdc7848c' },
      { kind: 'Deployment', name: 'nginx-dmz', replicaSet: 'nginx-dmz-57cdc7848c' },
    ],
    [
      'Deployment, pre-1.8 numeric hash and suffix',
      'ghost-3378155678-eq5i6',
      { run: 'ghost', 'pod-template-hash': '3378155678' },
      { kind: 'Deployment', name: 'ghost', replicaSet: 'ghost-3378155678' },
    ],
    [
      'DaemonSet (kube-proxy)',
      'kube-proxy-7trr5',
      { 'controller-revision-hash': '669fc44fbc', 'k8s-app': 'kube-proxy', 'pod-template-generation': '1' },
      { kind: 'DaemonSet', name: 'kube-proxy' },
    ],
    [
      'StatefulSet (1.28+, with pod-index)',
      'web-0',
      {
        app: 'nginx',
        'apps.kubernetes.io/pod-index': '0',
        'controller-revision-hash': 'web-6b9c5d8f7',
        'statefulset.kubernetes.io/pod-name': 'web-0',
      },
      { kind: 'StatefulSet', name: 'web' },
    ],
    [
      'StatefulSet with dashes and a two-digit ordinal',
      'kafka-broker-12',
      { 'controller-revision-hash': 'kafka-broker-7d4b9c8f6d', 'statefulset.kubernetes.io/pod-name': 'kafka-broker-12' },
      { kind: 'StatefulSet', name: 'kafka-broker' },
    ],
    [
      'Job (1.27+ labels)',
      'pi-4z7kq',
      { 'batch.kubernetes.io/controller-uid': 'c8a2', 'batch.kubernetes.io/job-name': 'pi', 'controller-uid': 'c8a2', 'job-name': 'pi' },
      { kind: 'Job', name: 'pi' },
    ],
    [
      'Job (legacy job-name only)',
      'migrate-db-x8m2p',
      { 'controller-uid': 'c8a2', 'job-name': 'migrate-db' },
      { kind: 'Job', name: 'migrate-db' },
    ],
    [
      'indexed Job',
      'render-2-qp7lz',
      { 'batch.kubernetes.io/job-completion-index': '2', 'batch.kubernetes.io/job-name': 'render', 'job-name': 'render' },
      { kind: 'Job', name: 'render' },
    ],
    [
      "CronJob's Job",
      `hello-${minutes('2025-12-31T23:59:00Z')}-2c9tz`,
      {
        'batch.kubernetes.io/job-name': `hello-${minutes('2025-12-31T23:59:00Z')}`,
        'job-name': `hello-${minutes('2025-12-31T23:59:00Z')}`,
      },
      { kind: 'CronJob', name: 'hello', job: `hello-${minutes('2025-12-31T23:59:00Z')}` },
    ],
  ])('%s', (_what, podName, labels, want) => {
    expect(workloadOf(podName, labels, NOW)).toEqual(want);
  });

  test.each([
    ['a bare pod', 'debug', { run: 'debug' }],
    ['a static (mirror) pod', 'kube-apiserver-node1', { component: 'kube-apiserver', tier: 'control-plane' }],
    ['a ReplicaSet without Deployment (no pod-template-hash)', 'frontend-b2zdv', { tier: 'frontend' }],
    [
      'pod-template-hash, but the name does not carry it (cut to 63 characters)',
      `${'a'.repeat(50)}-5dd5756b6-abcde`.slice(0, 63),
      { 'pod-template-hash': '5dd5756b68' },
    ],
    ['pod-template-hash on a pod not named after it', 'web', { 'pod-template-hash': '5dd5756b68' }],
    ['statefulset pod-name label naming another pod', 'web-1', { 'statefulset.kubernetes.io/pod-name': 'web-0' }],
    ['statefulset pod-name without an ordinal', 'web', { 'statefulset.kubernetes.io/pod-name': 'web' }],
    [
      'statefulset revision of another set',
      'web-0',
      { 'statefulset.kubernetes.io/pod-name': 'web-0', 'controller-revision-hash': 'db-6b9c5d8f7' },
    ],
    [
      'statefulset pod-index disagreeing with the ordinal',
      'web-0',
      { 'statefulset.kubernetes.io/pod-name': 'web-0', 'apps.kubernetes.io/pod-index': '1' },
    ],
    ['controller-revision-hash without pod-template-generation', 'agent-7trr5', { 'controller-revision-hash': '669fc44fbc' }],
    [
      'a DaemonSet pod name of 63 characters (its base may be cut)',
      `${'d'.repeat(57)}-7trr5`,
      { 'controller-revision-hash': '669fc44fbc', 'pod-template-generation': '1' },
    ],
    ['a job-name label on a pod not named after the Job', 'other-x8m2p', { 'job-name': 'migrate-db' }],
  ])('nothing for %s', (_what, podName, labels) => {
    expect(workloadOf(podName, labels as Record<string, string>, NOW)).toBeUndefined();
  });

  test('a Job of a long name: generateName `<job>-` is cut to 58 characters before the 5 random ones', () => {
    const job = `${'j'.repeat(60)}`;
    expect(workloadOf(`${job.slice(0, 58)}x8m2p`, { 'job-name': job }, NOW)).toEqual({ kind: 'Job', name: job });
  });

  test("a Job named <name>-<number> is a CronJob's only when the number is a time in minutes from 2016 to a day from now", () => {
    const job = (n: number) => ({ 'batch.kubernetes.io/job-name': `nightly-${n}` });
    const at = (n: number) => workloadOf(`nightly-${n}-abcde`, job(n), NOW);
    expect(at(minutes('2016-01-01T00:00:00Z'))).toEqual({
      kind: 'CronJob',
      name: 'nightly',
      job: `nightly-${minutes('2016-01-01T00:00:00Z')}`,
    });
    expect(at(minutes('2026-01-01T23:00:00Z'))?.kind).toBe('CronJob');
    expect(at(minutes('2015-12-31T23:59:00Z'))).toEqual({ kind: 'Job', name: `nightly-${minutes('2015-12-31T23:59:00Z')}` });
    expect(at(minutes('2026-01-03T00:00:00Z'))?.kind).toBe('Job');
    expect(workloadOf('migrate-2-abcde', { 'job-name': 'migrate-2' }, NOW)).toEqual({ kind: 'Job', name: 'migrate-2' });
  });

  test('Job evidence wins over a template label copied from elsewhere', () => {
    expect(workloadOf('pi-4z7kq', { 'job-name': 'pi', 'pod-template-hash': '5dd5756b68' }, NOW)).toEqual({ kind: 'Job', name: 'pi' });
  });
});

describe('pod labels and annotations as runtimes keep them', () => {
  test("CRI sandbox labels: the kubelet adds io.kubernetes.pod.{name,namespace,uid}, which are not the pod's", () => {
    const sandbox = {
      'io.kubernetes.pod.name': 'coredns-5dd5756b68-7xkqv',
      'io.kubernetes.pod.namespace': 'kube-system',
      'io.kubernetes.pod.uid': 'f1e2',
      'k8s-app': 'kube-dns',
      'pod-template-hash': '5dd5756b68',
    };
    expect(podLabelsOfSandbox(sandbox)).toEqual({ 'k8s-app': 'kube-dns', 'pod-template-hash': '5dd5756b68' });
    expect(podLabelsOfSandbox({ ...sandbox, 'io.cri-containerd.kind': 'sandbox' }, new Set(['io.cri-containerd.kind']))).toEqual({
      'k8s-app': 'kube-dns',
      'pod-template-hash': '5dd5756b68',
    });
    expect(podLabelsOfSandbox(undefined)).toEqual({});
  });

  /** A cri-dockerd sandbox (pause) container of a Deployment's pod: docker inspect's Config.Labels. */
  const CRI_DOCKERD_SANDBOX = {
    'annotation.kubernetes.io/config.seen': '2025-11-30T10:00:00.000000000Z',
    'annotation.kubernetes.io/config.source': 'api',
    'annotation.prometheus.io/scrape': 'true',
    app: 'nginx',
    'app.kubernetes.io/name': 'nginx',
    'io.kubernetes.container.name': 'POD',
    'io.kubernetes.docker.type': 'podsandbox',
    'io.kubernetes.pod.name': 'nginx-7854ff8877-4tqkz',
    'io.kubernetes.pod.namespace': 'default',
    'io.kubernetes.pod.uid': '0d1c7a55-7c3e-4a53-9d1b-7b1f4b0e9c11',
    'pod-template-hash': '7854ff8877',
  };

  test("cri-dockerd sandbox labels split into the pod's labels and annotations", () => {
    expect(podMetadataOfDockerSandbox(CRI_DOCKERD_SANDBOX)).toEqual({
      labels: { app: 'nginx', 'app.kubernetes.io/name': 'nginx', 'pod-template-hash': '7854ff8877' },
      annotations: {
        'kubernetes.io/config.seen': '2025-11-30T10:00:00.000000000Z',
        'kubernetes.io/config.source': 'api',
        'prometheus.io/scrape': 'true',
      },
    });
    expect(podMetadataOfDockerSandbox(null)).toEqual({ labels: {}, annotations: {} });
  });

  test("withPodMetadata derives the workload from the pod's labels and name", () => {
    const k8s = {
      namespace: 'default',
      podName: 'nginx-7854ff8877-4tqkz',
      podUid: 'u',
      containerName: 'nginx',
      podLabels: {},
      podAnnotations: {},
    };
    const out = withPodMetadata(k8s, podMetadataOfDockerSandbox(CRI_DOCKERD_SANDBOX), NOW);
    expect(out.workload).toEqual({ kind: 'Deployment', name: 'nginx', replicaSet: 'nginx-7854ff8877' });
    expect(out.podLabels).toEqual({ app: 'nginx', 'app.kubernetes.io/name': 'nginx', 'pod-template-hash': '7854ff8877' });
    expect(withPodMetadata({ ...k8s, podName: 'debug' }, { labels: { run: 'debug' }, annotations: {} }, NOW).workload).toBeUndefined();
    expect(withPodMetadata(k8s, undefined)).toBe(k8s);
  });
});
