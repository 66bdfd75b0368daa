export { RuntimeUnavailableError, type RuntimeClient, type RuntimeEvent, type RuntimeEventKind } from './types';
export { ContainerdClient, CRI_KIND_LABEL, type ContainerdOptions } from './containerd';
export { CriClient, type CriOptions } from './cri';
export { DockerClient, type DockerOptions } from './docker';
export { LxcClient, type LxcOptions } from './lxc';
export { mntnsOf, k8sFromLabels, K8S_LABELS, type ClientContext } from './common';
export { createRuntimeClients, listAllContainers, WELL_KNOWN, type RuntimesConfig, type CreateOptions, type ListError } from './discovery';
