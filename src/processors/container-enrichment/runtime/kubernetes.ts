import type { KubernetesInfo, WorkloadInfo } from '../../../events';

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
export function podLabelsOfSandbox(
  sandboxLabels: Record<string, string> | undefined,
  alsoDrop?: ReadonlySet<string>,
): Record<string, string> {
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

/** `k8s` with the pod's labels and annotations, and the workload they prove. */
export function withPodMetadata(k8s: KubernetesInfo, pod: PodMetadata | undefined, nowMs = Date.now()): KubernetesInfo {
  if (!pod) return k8s;
  const workload = workloadOf(k8s.podName, pod.labels, nowMs);
  return { ...k8s, podLabels: pod.labels, podAnnotations: pod.annotations, ...(workload ? { workload } : {}) };
}

/**
 * Labels the workload controllers put on the pods they make (k8s.io/api: apps/v1
 * `DefaultDeploymentUniqueLabelKey`, `ControllerRevisionHashLabelKey`,
 * `StatefulSetPodNameLabel`, `PodIndexLabel`, `DaemonSetTemplateGenerationKey`; batch/v1
 * `JobNameLabel` and the legacy `job-name`).
 */
export const WORKLOAD_LABELS = {
  podTemplateHash: 'pod-template-hash',
  controllerRevisionHash: 'controller-revision-hash',
  statefulSetPodName: 'statefulset.kubernetes.io/pod-name',
  podIndex: 'apps.kubernetes.io/pod-index',
  podTemplateGeneration: 'pod-template-generation',
  jobName: 'batch.kubernetes.io/job-name',
  legacyJobName: 'job-name',
} as const;

/**
 * The 5 random characters `generateName` appends (apimachinery's `rand.String`: today from
 * `bcdfghjklmnpqrstvwxz2456789`, in older releases other lower-case letters and digits).
 */
const SUFFIX = '[a-z0-9]{5}';
/** A name from `generateName: <base>-` is `<base>-` cut to 58 characters, then the suffix. */
const GENERATED_SUFFIX = new RegExp(`^(.+)-${SUFFIX}$`);
const MAX_GENERATE_NAME = 58;
/** The CronJob controller names a Job `<cronjob>-<scheduled time in minutes since the epoch>`. */
const CRONJOB_JOB = /^(.+)-([0-9]{8,10})$/;
/** CronJobs (batch/v2alpha1) came in Kubernetes 1.4, 2016: no CronJob has scheduled a Job before. */
const CRONJOB_EPOCH_MINUTES = Date.UTC(2016, 0, 1) / 60_000;
/** A Job is made at (or just after) its scheduled time, never more than the clock skew before. */
const CRONJOB_SKEW_MINUTES = 24 * 60;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The controller a pod belongs to, derived from its labels and name alone, the way
 * Kubernetes' controllers make them (no API server). Only where the evidence is complete:
 *
 * - Job: `batch.kubernetes.io/job-name` (else `job-name`) names it, and the pod's name starts
 *   with it (`generateName: <job>-`). A CronJob's when the Job's name is
 *   `<cronjob>-<minutes since the epoch>` with a time between 2016 and a day from now.
 * - StatefulSet: `statefulset.kubernetes.io/pod-name` is the pod's own name `<set>-<ordinal>`
 *   (and `apps.kubernetes.io/pod-index`, `controller-revision-hash` = `<set>-<hash>`, when
 *   present, agree).
 * - Deployment: `pod-template-hash` = h and the pod is named `<deployment>-<h>-<5 random>`;
 *   its ReplicaSet is `<deployment>-<h>`. Nothing when the name was cut (long names).
 * - DaemonSet: `controller-revision-hash` (a bare hash) and `pod-template-generation`, the pod
 *   named `<daemonset>-<5 random>`; nothing when the name may have been cut (63 characters).
 *
 * A bare pod, a static pod, a ReplicaSet without Deployment, or a pod of a controller this
 * does not know (an operator's) has none.
 */
export function workloadOf(podName: string, labels: Readonly<Record<string, string>>, nowMs = Date.now()): WorkloadInfo | undefined {
  if (!podName) return undefined;
  const L = WORKLOAD_LABELS;
  const job = labels[L.jobName] || labels[L.legacyJobName];
  if (job) {
    if (!podName.startsWith(`${job}-`.slice(0, MAX_GENERATE_NAME))) return undefined;
    const cron = CRONJOB_JOB.exec(job);
    if (cron) {
      const minutes = Number(cron[2]);
      if (minutes >= CRONJOB_EPOCH_MINUTES && minutes <= nowMs / 60_000 + CRONJOB_SKEW_MINUTES)
        return { kind: 'CronJob', name: cron[1], job };
    }
    return { kind: 'Job', name: job };
  }
  const setPod = labels[L.statefulSetPodName];
  if (setPod !== undefined) {
    const m = /^(.+)-(0|[1-9][0-9]*)$/.exec(podName);
    if (setPod !== podName || !m) return undefined;
    const revision = labels[L.controllerRevisionHash];
    if (revision !== undefined && !revision.startsWith(`${m[1]}-`)) return undefined;
    const index = labels[L.podIndex];
    if (index !== undefined && index !== m[2]) return undefined;
    return { kind: 'StatefulSet', name: m[1] };
  }
  const hash = labels[L.podTemplateHash];
  if (hash) {
    const m = new RegExp(`^(.+)-${escapeRegExp(hash)}-${SUFFIX}$`).exec(podName);
    return m ? { kind: 'Deployment', name: m[1], replicaSet: `${m[1]}-${hash}` } : undefined;
  }
  const revision = labels[L.controllerRevisionHash];
  const generation = labels[L.podTemplateGeneration];
  if (revision && generation !== undefined && /^[a-z0-9]+$/.test(revision) && /^[0-9]+$/.test(generation)) {
    const m = GENERATED_SUFFIX.exec(podName);
    // At 63 characters the base may have been cut to fit: its name is unknown.
    if (!m || podName.length >= MAX_GENERATE_NAME + 5) return undefined;
    return { kind: 'DaemonSet', name: m[1] };
  }
  return undefined;
}
