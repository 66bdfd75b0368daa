import type { KubernetesInfo } from '../../../events';

/**
 * What the kubelet hands a runtime about a pod, as each runtime keeps it, and what follows from it.
 * The kubelet puts the pod's labels on the pod sandbox (CRI `RunPodSandbox` `config.labels`) with
 * three of its own (`io.kubernetes.pod.{name,namespace,uid}`), and the pod's annotations in
 * `config.annotations`; a workload container carries only the kubelet's `io.kubernetes.*` labels.
 */

/** Label keys Kubernetes runtimes (containerd CRI, CRI-O, cri-dockerd) put on workload containers. */
export const K8S_LABELS = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
} as const;

/** The kubelet's container annotation with the container's restart count (also CRI `metadata.attempt`). */
export const RESTART_COUNT_ANNOTATION = 'io.kubernetes.container.restartCount';

/** The pod's labels and annotations, as the sandbox carries them. */
export interface PodMetadata {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function emptyPodMetadata(): PodMetadata {
  return { labels: {}, annotations: {} };
}

/** The kubelet's own sandbox labels, which are not the pod's. */
const KUBELET_SANDBOX_LABELS = new Set<string>([K8S_LABELS.podName, K8S_LABELS.podNamespace, K8S_LABELS.podUid]);

/** A CRI sandbox's labels (`PodSandbox.labels`, the kubelet's `config.labels`) without the kubelet's own: the pod's labels. */
export function podLabelsOfSandbox(sandboxLabels: Record<string, string> | undefined, alsoDrop?: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(sandboxLabels ?? {})) {
    if (!KUBELET_SANDBOX_LABELS.has(key) && !alsoDrop?.has(key)) out[key] = value;
  }
  return out;
}

/** cri-dockerd keeps a pod's (and a container's) CRI annotations as Docker labels with this prefix. */
export const DOCKER_ANNOTATION_PREFIX = 'annotation.';
/** Labels cri-dockerd adds to its sandbox containers (besides the kubelet's and `annotation.*`). */
const CRI_DOCKERD_SANDBOX_LABELS = new Set(['io.kubernetes.docker.type', K8S_LABELS.containerName]);

/**
 * A cri-dockerd sandbox container's labels split back into the pod's labels and annotations:
 * cri-dockerd makes them `{...config.labels, annotation.<key>: value, io.kubernetes.docker.type:
 * podsandbox, io.kubernetes.container.name: POD}`. Labels of the pause image, which Docker merges
 * in, cannot be told apart (the usual pause images have none).
 */
export function podMetadataOfDockerSandbox(labels: Record<string, string> | null | undefined): PodMetadata {
  const meta = emptyPodMetadata();
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (key.startsWith(DOCKER_ANNOTATION_PREFIX)) meta.annotations[key.slice(DOCKER_ANNOTATION_PREFIX.length)] = value;
    else if (!KUBELET_SANDBOX_LABELS.has(key) && !CRI_DOCKERD_SANDBOX_LABELS.has(key)) meta.labels[key] = value;
  }
  return meta;
}

/** The container's identity from the kubelet's labels on it; pod metadata is filled in by the client that knows the sandbox. */
export function k8sFromLabels(labels: Record<string, string>): KubernetesInfo | undefined {
  const podName = labels[K8S_LABELS.podName];
  if (!podName) return undefined;
  return {
    namespace: labels[K8S_LABELS.podNamespace] ?? '',
    podName,
    podUid: labels[K8S_LABELS.podUid] ?? '',
    containerName: labels[K8S_LABELS.containerName] ?? '',
    podLabels: {},
    podAnnotations: {},
  };
}

/** `k8s` with the pod's labels and annotations. */
export function withPodMetadata(k8s: KubernetesInfo, pod: PodMetadata | undefined): KubernetesInfo {
  if (!pod) return k8s;
  return { ...k8s, podLabels: pod.labels, podAnnotations: pod.annotations };
}
