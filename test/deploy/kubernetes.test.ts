/**
 * deploy/kubernetes: every overlay renders with `kubectl kustomize` and every object it renders
 * is valid against the Kubernetes API schemas (the kubernetes-models package: types, required
 * fields, enums; and its type declarations, through the TypeScript compiler, for field names —
 * a misspelt field is an error, as the API server's strict field validation makes it), and says
 * what the agent needs: least privilege, the host mounts the agent looks for, probes, scraping,
 * an agent config the agent itself accepts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { builtinFactories } from '../../src/components';
import { CAPABILITY_USES } from '../../src/host/capabilities';
import { HOST_MOUNTS } from '../../src/host/layout';
import { parseConfigText } from '../../src/pipeline/config';
import { NODE, REPO_ROOT } from '../harness';
import { requires } from '../harness/requires';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const OVERLAYS = ['plain', 'collector-sidecar', 'collector-gateway'] as const;
const VERSION = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version as string;

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are free-form below metadata
  [k: string]: any;
};

const kubectl = requires(KUBECTL);

function render(overlay: string): K8sObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', path.join(REPO_ROOT, 'deploy/kubernetes/overlays', overlay)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseAllDocuments(text)
    .map((d) => d.toJSON() as K8sObject)
    .filter(Boolean);
}

/** The kubernetes-models validators (ESM: a child process). */
function schemaErrors(objects: K8sObject[]): Array<{ kind: string; name: string; error: string }> {
  const r = spawnSync(NODE, [path.join(__dirname, 'validate-k8s.mjs')], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
    cwd: REPO_ROOT,
  });
  if (r.status !== 0) throw new Error(`validate-k8s.mjs failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as Array<{ kind: string; name: string; error: string }>).filter((x) => x.error);
}

/**
 * Field names: each object as a literal of its kind's interface (kubernetes-models' .d.ts),
 * type-checked; an unknown or misspelt field is an excess-property error.
 */
function fieldErrors(objects: K8sObject[], tag: string): string[] {
  const dir = path.join(REPO_ROOT, '.tmp', `k8s-types-${tag}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'objects.ts');
  const lines = objects.map((o, i) => {
    const mod = `kubernetes-models/${o.apiVersion}/${o.kind}`;
    return `import type { I${o.kind} as T${i} } from '${mod}';\nexport const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`;
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
  try {
    const program = ts.createProgram([file], {
      noEmit: true,
      strict: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      skipLibCheck: true,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
      const context = d.file
        ? d.file.text
            .split('\n')
            .slice(Math.max(0, where - 3), where)
            .join(' ')
        : '';
      return `${ts.flattenDiagnosticMessageText(d.messageText, '\n')} (near: ${context.trim().slice(0, 200)})`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string, name?: string) => {
  const found = byKind(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  expect(found).toHaveLength(1);
  return found[0];
};

kubectl.describe('deploy/kubernetes overlays', () => {
  const rendered = new Map<string, K8sObject[]>();
  beforeAll(() => {
    for (const overlay of OVERLAYS) rendered.set(overlay, render(overlay));
  });

  test.each(OVERLAYS)(
    '%s: every object is valid against the Kubernetes API schemas, field names included',
    (overlay) => {
      const objects = rendered.get(overlay)!;
      expect(objects.length).toBeGreaterThanOrEqual(5);
      expect(schemaErrors(objects)).toEqual([]);
      expect(fieldErrors(objects, overlay)).toEqual([]);
      // Everything lands in one namespace (cluster-scoped kinds aside).
      for (const o of objects)
        if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
          expect([o.kind, o.metadata.namespace]).toEqual([o.kind, 'observability']);
    },
    60_000,
  );

  test('the schemas catch what they should: a misspelt field, a wrong type, a bad enum value', () => {
    const ds = structuredClone(one(rendered.get('plain')!, 'DaemonSet'));
    ds.spec.template.spec.containers[0].volumeMounts[0].mountPropogation = 'HostToContainer';
    expect(fieldErrors([ds], 'negative').join('\n')).toMatch(/mountPropogation/);
    const typed = structuredClone(one(rendered.get('plain')!, 'DaemonSet'));
    typed.spec.template.spec.containers[0].ports[0].containerPort = 'lots';
    typed.spec.template.spec.containers[0].volumeMounts[4].mountPropagation = 'Sideways';
    const errors = schemaErrors([typed])
      .map((e) => e.error)
      .join('\n');
    expect(errors).toMatch(/containerPort must be integer/);
    expect(errors).toMatch(/mountPropagation must be equal to one of the allowed values/);
  }, 60_000);

  test.each(OVERLAYS)(
    '%s: the DaemonSet runs the agent with least privilege, the host mounts it looks for, probes and scraping',
    (overlay) => {
      const objects = rendered.get(overlay)!;
      const ds = one(objects, 'DaemonSet', 'ebpf-container-otel');
      const pod = ds.spec.template.spec;
      const agent = pod.containers.find((c: { name: string }) => c.name === 'agent');
      expect(agent.image).toBe(`ebpf-container-otel:${VERSION}`);
      expect(pod.hostPID).toBe(true);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
      // Least privilege: no privileged container, every capability dropped, only the documented set added.
      const sc = agent.securityContext;
      expect(sc).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsUser: 0 });
      expect(sc.capabilities.drop).toEqual(['ALL']);
      expect(sc.capabilities.add).toEqual(['BPF', 'PERFMON', 'SYS_PTRACE']);
      for (const cap of sc.capabilities.add) expect(CAPABILITY_USES.map((u) => u.cap)).toContain(`CAP_${cap}`);
      // The mounts the agent finds on its own (src/host/layout.ts) and those the kernel side needs.
      const volumes = new Map<string, { hostPath?: { path: string }; configMap?: { name: string } }>(
        pod.volumes.map((v: { name: string }) => [v.name, v]),
      );
      const mounts = (agent.volumeMounts as Array<{ name: string; mountPath: string; readOnly?: boolean; mountPropagation?: string }>).map(
        (m) => ({
          hostPath: volumes.get(m.name)?.hostPath?.path,
          mountPath: m.mountPath,
          readOnly: m.readOnly ?? false,
          propagation: m.mountPropagation,
        }),
      );
      expect(mounts).toEqual(
        expect.arrayContaining([
          { hostPath: '/proc', mountPath: HOST_MOUNTS.proc, readOnly: true, propagation: undefined },
          { hostPath: '/run', mountPath: HOST_MOUNTS.run, readOnly: true, propagation: undefined },
          { hostPath: '/sys/fs/cgroup', mountPath: HOST_MOUNTS.cgroup, readOnly: true, propagation: undefined },
          { hostPath: '/sys/fs/bpf', mountPath: '/sys/fs/bpf', readOnly: false, propagation: 'HostToContainer' },
          { hostPath: '/sys/kernel/tracing', mountPath: '/sys/kernel/tracing', readOnly: true, propagation: undefined },
        ]),
      );
      for (const m of agent.volumeMounts) expect(volumes.has(m.name)).toBe(true);
      // The config comes from the ConfigMap kustomize generated (its hashed name), and the agent accepts it.
      const configVolume = pod.volumes.find(
        (v: { name: string; configMap?: unknown }) =>
          v.configMap &&
          agent.volumeMounts.some(
            (m: { name: string; mountPath: string }) => m.name === v.name && m.mountPath === '/etc/ebpf-container-otel',
          ),
      );
      const configMap = one(objects, 'ConfigMap', configVolume.configMap.name);
      expect(agent.args).toEqual(['run', '--config', '/etc/ebpf-container-otel/agent.yaml']);
      const config = parseConfigText(configMap.data['agent.yaml'], `${overlay}/agent.yaml`, { NODE_NAME: 'node-1' }, builtinFactories);
      const exporters = config.exporters as Record<string, { endpoint?: string }>;
      // Nothing in it says where the host is: the agent finds it.
      expect(JSON.stringify(config.processors)).not.toMatch(/host_root|host_proc|host_run|socket/);
      // Probes and scraping on the Prometheus exporter's port.
      const metricsPort = agent.ports.find((p: { name: string }) => p.name === 'metrics').containerPort;
      expect(exporters.prometheus.endpoint).toBe(`0.0.0.0:${metricsPort}`);
      expect(agent.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
      expect(agent.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(agent.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
      expect(agent.resources.requests).toBeDefined();
      expect(agent.resources.limits.memory).toBeDefined();
      expect(ds.spec.template.metadata.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(metricsPort),
      });
      const svc = one(objects, 'Service', 'ebpf-container-otel');
      expect(svc.spec.clusterIP).toBe('None');
      expect(svc.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort) });
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(ds.spec.template.metadata.labels[k]).toBe(v);
      expect(svc.spec.ports[0].targetPort).toBe('metrics');
      for (const [k, v] of Object.entries(ds.spec.selector.matchLabels as Record<string, string>))
        expect(ds.spec.template.metadata.labels[k]).toBe(v);
      expect(pod.serviceAccountName).toBe(one(objects, 'ServiceAccount', 'ebpf-container-otel').metadata.name);

      // Where the records go, per overlay.
      if (overlay === 'plain') {
        expect(Object.keys(exporters).sort()).toEqual(['file', 'prometheus']);
      } else if (overlay === 'collector-sidecar') {
        expect(exporters.otlp.endpoint).toBe('localhost:4317');
        const sidecar = pod.containers.find((c: { name: string }) => c.name === 'otel-collector');
        expect(sidecar.ports).toEqual([{ name: 'otlp-grpc', containerPort: 4317, protocol: 'TCP' }]);
        expect(sidecar.securityContext).toMatchObject({
          privileged: false,
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        const collectorVolume = pod.volumes.find((v: { name: string }) => v.name === sidecar.volumeMounts[0].name);
        expect(one(objects, 'ConfigMap', collectorVolume.configMap.name).data['collector.yaml']).toMatch(/endpoint: localhost:4317/);
      } else {
        const [host, port] = exporters.otlp.endpoint!.split(':');
        const [svcName, ns] = host.split('.');
        const gateway = one(objects, 'Service', svcName);
        expect(ns).toBe(gateway.metadata.namespace);
        expect(gateway.spec.ports.map((p: { port: number }) => String(p.port))).toContain(port);
        const deployment = one(objects, 'Deployment', svcName);
        for (const [k, v] of Object.entries(gateway.spec.selector as Record<string, string>))
          expect(deployment.spec.template.metadata.labels[k]).toBe(v);
        const binding = one(objects, 'ClusterRoleBinding', svcName);
        expect(binding.subjects).toEqual([
          { kind: 'ServiceAccount', name: deployment.spec.template.spec.serviceAccountName, namespace: 'observability' },
        ]);
      }
    },
  );

  test('every capability the DaemonSet adds is documented with its reason in deploy/kubernetes/README.md', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'deploy/kubernetes/README.md'), 'utf8');
    for (const cap of one(rendered.get('plain')!, 'DaemonSet').spec.template.spec.containers[0].securityContext.capabilities.add) {
      expect(readme).toMatch(new RegExp(`^\\| \`${cap}\` \\| .{20,}`, 'm'));
    }
    expect(readme).toMatch(/privileged: true/);
    expect(readme).toMatch(/perf_event_paranoid/);
  });
});
