/** Normalised view of one container, whatever runtime reported it (docs/design.md §2). */
export type RuntimeName = 'containerd' | 'cri' | 'docker' | 'podman' | 'lxc' | 'pinned-map';

export type ContainerState = 'created' | 'running' | 'paused' | 'stopped' | 'unknown';

/**
 * Controllers a pod can be recognised as belonging to from what the node has (the pod's labels
 * and name, docs/design.md §2), without asking the API server. `kind` is the top-level one: a
 * Deployment's pod is `Deployment` (its ReplicaSet in `replicaSet`), a CronJob's pod `CronJob`
 * (its Job in `job`). `ReplicaSet` is a ReplicaSet no Deployment owns: nothing on the node tells
 * one apart, so it is never derived today; the kind is reserved so selectors need not change.
 */
export type WorkloadKind = 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob';

export interface WorkloadInfo {
  kind: WorkloadKind;
  /** Name of the `kind` object (the Deployment, StatefulSet, DaemonSet, Job or CronJob). */
  name: string;
  /** Deployment pods: their ReplicaSet, `<deployment>-<pod-template-hash>`. */
  replicaSet?: string;
  /** CronJob pods: their Job, `<cronjob>-<scheduled time in minutes since the epoch>`. */
  job?: string;
}

export interface KubernetesInfo {
  namespace: string;
  podName: string;
  podUid: string;
  containerName: string;
  /**
   * The pod's labels (`metadata.labels`) as the kubelet handed them to the runtime with the pod
   * sandbox: CRI `PodSandbox.labels`, containerd's sandbox metadata (else the sandbox container's
   * labels), Docker's sandbox container labels (cri-dockerd). The kubelet's own
   * `io.kubernetes.pod.{name,namespace,uid}` and the runtime's bookkeeping labels are not among
   * them. Fixed when the sandbox was made: a label changed on a running pod is not seen. `{}` when
   * the pod has none or the source does not say (another agent's pinned map, a cgroup path).
   * Every entry is kept: exporters choose which they send (allow-lists) and bound them.
   */
  podLabels: Record<string, string>;
  /** The pod's annotations, from the same sources (cri-dockerd: the sandbox's `annotation.*` labels); `{}` likewise. */
  podAnnotations: Record<string, string>;
  /** The controller the pod belongs to, only where its labels and name prove it (see WorkloadInfo); absent for a bare pod. */
  workload?: WorkloadInfo;
  /** The kubelet's restart count of this container (CRI `metadata.attempt`, the `io.kubernetes.container.restartCount` annotation); absent when the runtime does not say. */
  restartCount?: number;
}

export interface ContainerInfo {
  id: string;
  name: string;
  runtime: RuntimeName;
  state: ContainerState;
  /** Host pid of the container's init process; 0 when not running. */
  pid: number;
  /** Mount namespace inode of `pid`; 0 when unknown. */
  mntns: number;
  cgroupPath: string;
  /**
   * `name`: the reference the container was created from. `id`: the runtime's
   * own image id (Docker/Podman: config digest; CRI: `image_ref`), '' when it
   * gives none. `digest`: manifest (repository) digest, '' when unknown.
   */
  image: { name: string; id: string; digest: string };
  /** What actually runs the container when `runtime` is an interface to it (CRI: `Version.runtime_name`, e.g. containerd, cri-o). */
  engine?: string;
  labels: Record<string, string>;
  k8s?: KubernetesInfo;
  /** Pod sandbox (pause) containers are never reported as workload containers. */
  sandbox: boolean;
  /** RFC 3339 start time, '' when unknown. */
  startedAt: string;
}
