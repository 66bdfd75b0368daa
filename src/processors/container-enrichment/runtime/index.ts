export { RuntimeUnavailableError, type RuntimeClient, type RuntimeEvent, type RuntimeEventKind } from './types';
export { ContainerdClient, type ContainerdOptions } from './containerd';
export { mntnsOf, k8sFromLabels, K8S_LABELS, type ClientContext } from './common';
