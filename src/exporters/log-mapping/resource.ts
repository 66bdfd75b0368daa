import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ContainerInfo, WorkloadInfo } from '../../events';
import type { HostInfo } from '../../pipeline/component';
import { PACKAGE_ROOT } from '../../pipeline/paths';
import type { PodMetadataPolicy } from './pod-metadata';

export interface ResourceAttribute {
  key: string;
  /** A number is an OTLP int (`intValue`): only integers are ever given. */
  value: string | string[] | number;
}

export const DEFAULT_SERVICE_NAME = 'ebpf-container-otel';

/** The instrumentation scope every record is reported under. */
export const SCOPE = {
  name: 'ebpf-container-otel',
  version: (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version,
};

export interface ImageReference {
  /** Repository without tag or digest, e.g. `docker.io/library/busybox`. */
  name: string;
  tag: string;
  /** `sha256:…` when the reference was pinned by digest. */
  digest: string;
}

/**
 * Splits `registry:5000/repo/name:tag@sha256:…`. The tag is after the last
 * `:` that follows the last `/` (a registry port is before a `/`).
 */
export function parseImageReference(ref: string): ImageReference {
  let rest = ref;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

/**
 * The `k8sattributes` names of a pod's controllers: a Deployment's pod has its ReplicaSet and the
 * Deployment, a CronJob's its Job and the CronJob.
 */
export function workloadAttributes(w: WorkloadInfo): { key: string; value: string }[] {
  switch (w.kind) {
    case 'Deployment':
      return [
        ...(w.replicaSet ? [{ key: 'k8s.replicaset.name', value: w.replicaSet }] : []),
        { key: 'k8s.deployment.name', value: w.name },
      ];
    case 'ReplicaSet':
      return [{ key: 'k8s.replicaset.name', value: w.name }];
    case 'StatefulSet':
      return [{ key: 'k8s.statefulset.name', value: w.name }];
    case 'DaemonSet':
      return [{ key: 'k8s.daemonset.name', value: w.name }];
    case 'Job':
      return [{ key: 'k8s.job.name', value: w.name }];
    case 'CronJob':
      return [...(w.job ? [{ key: 'k8s.job.name', value: w.job }] : []), { key: 'k8s.cronjob.name', value: w.name }];
  }
}

/**
 * Resource attributes of one container (or of the host, for `null`), in the
 * order they are written. `podMetadata` chooses the pod labels and annotations
 * sent (none without it). `overrides` (config `resource_attributes`) come
 * last and replace a computed attribute of the same key.
 */
export function resourceAttributes(
  info: ContainerInfo | null,
  host: HostInfo,
  overrides: Readonly<Record<string, string>>,
  podMetadata?: PodMetadataPolicy,
): ResourceAttribute[] {
  const attrs: ResourceAttribute[] = [{ key: 'service.name', value: DEFAULT_SERVICE_NAME }];
  const add = (key: string, value: string | string[]) => {
    if (value.length > 0) attrs.push({ key, value });
  };
  add('host.name', host.hostname);
  add('k8s.node.name', host.nodeName);
  if (info) {
    add('container.id', info.id);
    add('container.name', info.name);
    if (info.runtime !== 'pinned-map') add('container.runtime.name', info.engine || info.runtime);
    const image = parseImageReference(info.image.name);
    // A bare image id (`sha256:…`) is not a name: report it as the image id.
    const nameIsId = /^sha256:[0-9a-f]+$/.test(info.image.name);
    if (!nameIsId) add('container.image.name', image.name);
    add('container.image.id', info.image.id || (nameIsId ? info.image.name : ''));
    if (image.tag) add('container.image.tags', [image.tag]);
    const digest = info.image.digest || image.digest;
    if (digest) add('container.image.repo_digests', [digest.includes('@') ? digest : `${image.name}@${digest}`]);
    if (info.k8s) {
      add('k8s.namespace.name', info.k8s.namespace);
      add('k8s.pod.name', info.k8s.podName);
      add('k8s.pod.uid', info.k8s.podUid);
      add('k8s.container.name', info.k8s.containerName);
      if (info.k8s.restartCount !== undefined) attrs.push({ key: 'k8s.container.restart_count', value: info.k8s.restartCount });
      if (info.k8s.workload) for (const a of workloadAttributes(info.k8s.workload)) add(a.key, a.value);
      if (podMetadata) for (const a of podMetadata.attributes(info.k8s)) attrs.push(a);
    }
  }
  for (const [key, value] of Object.entries(overrides)) {
    const existing = attrs.find((a) => a.key === key);
    if (existing) existing.value = value;
    else attrs.push({ key, value });
  }
  return attrs;
}

/**
 * Per-container cache of a writer's encoded resource. Keyed by the
 * ContainerInfo object, so entries go with the enrichment index's objects
 * (bounded by it) and a changed container yields a fresh object.
 */
export class ResourceCache<T> {
  private readonly byContainer = new WeakMap<ContainerInfo, T>();
  private host: T | undefined;

  constructor(
    private readonly hostInfo: HostInfo,
    private readonly overrides: Readonly<Record<string, string>>,
    private readonly build: (attrs: ResourceAttribute[]) => T,
    private readonly podMetadata?: PodMetadataPolicy,
  ) {}

  get(info: ContainerInfo | null): T {
    if (info === null) return (this.host ??= this.build(resourceAttributes(null, this.hostInfo, this.overrides)));
    let entry = this.byContainer.get(info);
    if (entry === undefined) {
      entry = this.build(resourceAttributes(info, this.hostInfo, this.overrides, this.podMetadata));
      this.byContainer.set(info, entry);
    }
    return entry;
  }
}
