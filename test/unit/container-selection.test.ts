import type { ContainerInfo, KubernetesInfo } from '../../src/events';
import { compileSelection, globToRegExp } from '../../src/receivers/ebpf/selection';

function pod(
  namespace: string,
  labels: Record<string, string>,
  extra: Partial<KubernetesInfo> = {},
  image = 'registry.local/shop/web:1.2',
): ContainerInfo {
  return {
    id: 'c'.repeat(64),
    name: 'k8s_app_web',
    runtime: 'cri',
    state: 'running',
    pid: 1,
    mntns: 2,
    cgroupPath: '',
    image: { name: image, id: '', digest: '' },
    labels: {},
    k8s: { namespace, podName: 'web-0', podUid: 'u', containerName: 'app', podLabels: labels, podAnnotations: {}, ...extra },
    sandbox: false,
    startedAt: '',
  };
}

const plain: ContainerInfo = { ...pod('x', {}), k8s: undefined, name: 'builder', image: { name: 'busybox:latest', id: '', digest: '' } };

describe('filters.containers selection', () => {
  test('no include and no exclude: nothing to decide', () => {
    expect(compileSelection({ include: [], exclude: [] })).toBeUndefined();
  });

  test('include by namespace (glob), exclude by pod labels (all must match)', () => {
    const traced = compileSelection({
      include: [{ k8s_namespace: 'shop*' }],
      exclude: [{ k8s_pod_labels: { tier: 'debug', app: 'w*' } }],
    })!;
    expect(traced(pod('shop', { app: 'web' }))).toBe(true);
    expect(traced(pod('shop-eu', {}))).toBe(true);
    expect(traced(pod('other', { app: 'web' }))).toBe(false);
    expect(traced(pod('shop', { app: 'web', tier: 'debug' }))).toBe(false);
    // Only one of the two labels: the exclude does not match.
    expect(traced(pod('shop', { tier: 'debug' }))).toBe(true);
    // A container with no pod matches no namespace selector.
    expect(traced(plain)).toBe(false);
  });

  test('exclude only: every container but the excluded ones', () => {
    const traced = compileSelection({ include: [], exclude: [{ image: '*/debug-*' }, { container_name: 'istio-proxy' }] })!;
    expect(traced(pod('shop', {}))).toBe(true);
    expect(traced(plain)).toBe(true);
    expect(traced(pod('shop', {}, { containerName: 'istio-proxy' }))).toBe(false);
    expect(traced(pod('shop', {}, {}, 'registry.local/debug-tools:1'))).toBe(false);
  });

  test('workload by kind/name or name; container name falls back to the runtime name', () => {
    const traced = compileSelection({
      include: [{ k8s_workload: 'Deployment/web' }, { k8s_workload: 'db' }, { container_name: 'build*' }],
      exclude: [],
    })!;
    expect(traced(pod('shop', {}, { workload: { kind: 'Deployment', name: 'web', replicaSet: 'web-5d8f' } }))).toBe(true);
    expect(traced(pod('shop', {}, { workload: { kind: 'StatefulSet', name: 'web' } }))).toBe(false);
    expect(traced(pod('shop', {}, { workload: { kind: 'StatefulSet', name: 'db' } }))).toBe(true);
    expect(traced(pod('shop', {}))).toBe(false);
    expect(traced(plain)).toBe(true);
  });

  test('every key of one selector must match', () => {
    const traced = compileSelection({ include: [{ k8s_namespace: 'shop', image: '*/web:*' }], exclude: [] })!;
    expect(traced(pod('shop', {}))).toBe(true);
    expect(traced(pod('shop', {}, {}, 'busybox'))).toBe(false);
  });

  test('globs: * and ? only; everything else literal', () => {
    expect(globToRegExp('a.b*').test('a.bcd')).toBe(true);
    expect(globToRegExp('a.b*').test('axbcd')).toBe(false);
    expect(globToRegExp('v?').test('v1')).toBe(true);
    expect(globToRegExp('v?').test('v12')).toBe(false);
    expect(globToRegExp('(x)+[y]').test('(x)+[y]')).toBe(true);
  });
});
