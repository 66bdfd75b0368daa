import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { serviceClient, unary } from '../../src/processors/container-enrichment/runtime/proto';
import { TEST_IMAGE } from './image';

export interface PodSpec {
  name: string;
  namespace?: string;
  uid?: string;
  containerName?: string;
  command?: string[];
  /** The pod's `metadata.labels` (default `{ app: name }`). */
  labels?: Record<string, string>;
  /** The pod's `metadata.annotations`; the kubelet adds `kubernetes.io/config.seen` and `kubernetes.io/config.source`. */
  annotations?: Record<string, string>;
  /** The container's restart count (CRI `metadata.attempt` and the kubelet's `io.kubernetes.container.restartCount` annotation); default 0. */
  restartCount?: number;
  /**
   * The pod's cgroup parent as the kubelet passes it (`LinuxPodSandboxConfig.cgroup_parent`): with
   * the systemd driver a slice, e.g. `kubepods-besteffort-pod<uid with _>.slice`; default none.
   */
  cgroupParent?: string;
}

export interface RunningPod {
  podId: string;
  containerId: string;
  name: string;
  namespace: string;
  uid: string;
  containerName: string;
}

/**
 * Runs pods through a CRI v1 endpoint the way the kubelet does (RunPodSandbox, CreateContainer,
 * StartContainer). Pods use the host network, so no CNI plugin is needed.
 */
export class CriPods {
  private readonly client: grpc.Client;
  private readonly pods = new Set<string>();

  constructor(
    readonly socket: string,
    private readonly logDir: string,
  ) {
    this.client = new (serviceClient('runtime.v1.RuntimeService'))(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  call<Res>(method: string, request: object): Promise<Res> {
    return unary<Res>(this.client, method, request, new grpc.Metadata(), 60_000);
  }

  async runPod(spec: PodSpec): Promise<RunningPod> {
    const namespace = spec.namespace ?? 'default';
    const uid = spec.uid ?? randomUUID();
    const containerName = spec.containerName ?? 'main';
    const logDirectory = path.join(this.logDir, uid);
    mkdirSync(logDirectory, { recursive: true });
    // The kubelet, not the runtime, puts these labels on pods and containers.
    const podLabels = { 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.uid': uid };
    const restartCount = spec.restartCount ?? 0;
    const sandboxConfig = {
      metadata: { name: spec.name, uid, namespace, attempt: 0 },
      log_directory: logDirectory,
      // No hostname: host-network pods share the host UTS namespace.
      // The kubelet's newPodLabels: the pod's labels plus its own three.
      labels: { ...(spec.labels ?? { app: spec.name }), ...podLabels },
      // The kubelet's newPodAnnotations: the pod's annotations, which the kubelet's config sources add to.
      annotations: {
        ...(spec.annotations ?? {}),
        'kubernetes.io/config.seen': new Date().toISOString(),
        'kubernetes.io/config.source': 'api',
      },
      linux: {
        ...(spec.cgroupParent ? { cgroup_parent: spec.cgroupParent } : {}),
        security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    const { pod_sandbox_id: podId } = await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig });
    this.pods.add(podId);
    const { container_id: containerId } = await this.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: podId,
      config: {
        metadata: { name: containerName, attempt: restartCount },
        image: { image: TEST_IMAGE },
        command: spec.command ?? ['/bin/sleep', '100000'],
        log_path: `${containerName}_${restartCount}.log`,
        // The kubelet's newContainerLabels and newContainerAnnotations.
        labels: { ...podLabels, 'io.kubernetes.container.name': containerName },
        annotations: {
          'io.kubernetes.container.hash': 'a1b2c3d4',
          'io.kubernetes.container.restartCount': String(restartCount),
          'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
          'io.kubernetes.container.terminationMessagePolicy': 'File',
          'io.kubernetes.pod.terminationGracePeriod': '30',
        },
      },
      sandbox_config: sandboxConfig,
    });
    await this.call('StartContainer', { container_id: containerId });
    return { podId, containerId, name: spec.name, namespace, uid, containerName };
  }

  async stopContainer(containerId: string): Promise<void> {
    await this.call('StopContainer', { container_id: containerId, timeout: 0 });
  }

  async removePod(podId: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: podId });
    await this.call('RemovePodSandbox', { pod_sandbox_id: podId });
    this.pods.delete(podId);
  }

  /** Removes every pod this helper started (best effort) and closes the connection. */
  async close(): Promise<void> {
    for (const podId of [...this.pods]) {
      try {
        await this.removePod(podId);
      } catch {
        /* the daemon may be gone; the daemon harness kills by pid */
      }
    }
    this.client.close();
  }
}
