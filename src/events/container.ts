/** Normalised view of one container, whatever runtime reported it (DESIGN.md §2). */
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
  image: { name: string; digest: string };
  labels: Record<string, string>;
  k8s?: KubernetesInfo;
  /** Pod sandbox (pause) containers are never reported as workload containers. */
  sandbox: boolean;
  /** RFC 3339 start time, '' when unknown. */
  startedAt: string;
}
