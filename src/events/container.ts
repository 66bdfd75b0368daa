/** Normalised view of one container, whatever runtime reported it (docs/design.md §2). */
export type RuntimeName = 'containerd' | 'cri' | 'docker' | 'podman' | 'lxc' | 'pinned-map';

export type ContainerState = 'created' | 'running' | 'paused' | 'stopped' | 'unknown';

export interface KubernetesInfo {
  namespace: string;
  podName: string;
  podUid: string;
  containerName: string;
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
