import * as grpc from '@grpc/grpc-js';
import type { ContainerInfo, ContainerState, KubernetesInfo } from '../../../events';
import {
  RecentContainers,
  RuntimeClientBase,
  k8sFromLabels,
  mapLimit,
  withPidDetails,
  type ClientContext,
  type PendingEvent,
} from './common';
import { RESTART_COUNT_ANNOTATION, podLabelsOfSandbox, withPodMetadata } from './kubernetes';
import { CHANNEL_OPTIONS, serviceClient, unary } from './proto';

const CALL_TIMEOUT_MS = 5_000;
const STATUS_CONCURRENCY = 8;
export const DEFAULT_CRI_POLL_MS = 2_000;

export interface CriOptions {
  socket: string;
  /** How often watch() re-lists to find starts and exits (CRI v1 has no portable event stream). */
  pollIntervalMs?: number;
}

interface PbMeta {
  name: string;
  uid?: string;
  namespace?: string;
  attempt?: number;
}
interface PbContainer {
  id: string;
  pod_sandbox_id: string;
  metadata: PbMeta | null;
  image: { image: string } | null;
  image_ref: string;
  state: string;
  created_at: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface PbSandbox {
  id: string;
  metadata: PbMeta | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface StatusDetails {
  pid: number;
  cgroupPath: string;
  startedAt: string;
}

const STATE: Record<string, ContainerState> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'stopped',
  CONTAINER_UNKNOWN: 'unknown',
};

/**
 * Kubernetes CRI v1 RuntimeService (containerd's CRI plugin, CRI-O, cri-dockerd). The pid is
 * only in ContainerStatus(verbose).info["info"], so it is fetched once per running container
 * and cached; pod metadata comes from the kubelet's labels, else from the pod sandbox.
 */
export class CriClient extends RuntimeClientBase {
  readonly runtime = 'cri' as const;
  readonly endpoint: string;
  private readonly pollMs: number;
  private readonly client: grpc.Client;
  private validated = false;
  /** The runtime behind the CRI endpoint, from `Version`. */
  private engine = '';
  /** Per running container id; pruned to the ids of the latest listing, so bounded by it. */
  private readonly details = new Map<string, StatusDetails>();
  /** An exited container is listed until it is removed (a Job's pod may go within a second); then only this remembers it. */
  private readonly recent = new RecentContainers();

  constructor(options: CriOptions, ctx: ClientContext) {
    super(ctx);
    this.endpoint = options.socket;
    this.pollMs = options.pollIntervalMs ?? DEFAULT_CRI_POLL_MS;
    this.client = new (serviceClient('runtime.v1.RuntimeService'))(
      `unix://${options.socket}`,
      grpc.credentials.createInsecure(),
      CHANNEL_OPTIONS,
    );
  }

  private call<Res>(method: string, request: object): Promise<Res> {
    return unary<Res>(this.client, method, request, new grpc.Metadata(), CALL_TIMEOUT_MS);
  }

  /** Checks once per connection that the endpoint speaks CRI v1. */
  private async validate(): Promise<void> {
    if (this.validated) return;
    let res: { runtime_api_version: string; runtime_name: string; runtime_version: string };
    try {
      res = await this.call('Version', { version: 'v1' });
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.UNIMPLEMENTED) {
        throw new Error('does not implement CRI runtime.v1 (only v1alpha2?): upgrade the runtime or use its native client');
      }
      throw err;
    }
    if (res.runtime_api_version !== 'v1') throw new Error(`speaks CRI ${res.runtime_api_version}, this agent needs v1`);
    this.logger.debug(`CRI at ${this.endpoint}: ${res.runtime_name} ${res.runtime_version}`);
    this.engine = res.runtime_name;
    this.validated = true;
  }

  async list(): Promise<ContainerInfo[]> {
    try {
      await this.validate();
      const [{ containers }, { items }] = await Promise.all([
        this.call<{ containers: PbContainer[] }>('ListContainers', {}),
        this.call<{ items: PbSandbox[] }>('ListPodSandbox', {}),
      ]);
      const pods = new Map(items.map((p) => [p.id, p]));
      const out = await mapLimit(containers, STATUS_CONCURRENCY, (c) => this.describe1(c, pods.get(c.pod_sandbox_id)));
      const live = new Set(containers.map((c) => c.id));
      for (const id of this.details.keys()) if (!live.has(id)) this.details.delete(id);
      this.markHealthy();
      return out;
    } catch (err) {
      this.validated = false;
      throw await this.markUnhealthy(err);
    }
  }

  async get(id: string): Promise<ContainerInfo | undefined> {
    try {
      await this.validate();
      const { containers } = await this.call<{ containers: PbContainer[] }>('ListContainers', { filter: { id } });
      const c = containers[0];
      let info: ContainerInfo | undefined;
      if (c) {
        const { items } = await this.call<{ items: PbSandbox[] }>('ListPodSandbox', { filter: { id: c.pod_sandbox_id } });
        info = await this.describe1(c, items[0]);
      }
      this.markHealthy();
      return info ?? this.recent.recall(id);
    } catch (err) {
      this.validated = false;
      throw await this.markUnhealthy(err);
    }
  }

  private async describe1(c: PbContainer, pod: PbSandbox | undefined): Promise<ContainerInfo> {
    const state = STATE[c.state] ?? 'unknown';
    const details = state === 'running' ? await this.statusDetails(c.id) : undefined;
    const labels = { ...c.labels };
    const identity = k8sFromLabels(labels) ?? k8sFromSandbox(pod, c.metadata?.name ?? '');
    let k8s = identity && withPodMetadata(identity, pod && { labels: podLabelsOfSandbox(pod.labels), annotations: { ...pod.annotations } });
    const restartCount = restartCountOf(c);
    if (k8s && restartCount !== undefined) k8s = { ...k8s, restartCount };
    const info = await withPidDetails(this.hostProc, {
      id: c.id,
      name: c.metadata?.name ?? c.id,
      runtime: 'cri',
      state,
      pid: details?.pid ?? 0,
      mntns: 0,
      cgroupPath: details?.cgroupPath ?? '',
      // image_ref is the repository digest (`repo@sha256:…`) when the runtime knows one, else the image id.
      image: { name: c.image?.image ?? '', id: c.image_ref, digest: c.image_ref.includes('@') ? c.image_ref : '' },
      ...(this.engine ? { engine: this.engine } : {}),
      labels,
      ...(k8s ? { k8s } : {}),
      sandbox: false,
      startedAt: details?.startedAt ?? '',
    });
    this.recent.remember(info);
    return info;
  }

  cacheEvictions(): number {
    return this.recent.evictions;
  }

  private async statusDetails(id: string): Promise<StatusDetails> {
    const cached = this.details.get(id);
    if (cached) return cached;
    const res = await this.call<{ status: { started_at: number } | null; info: Record<string, string> }>('ContainerStatus', {
      container_id: id,
      verbose: true,
    });
    let pid = 0;
    let cgroupPath = '';
    try {
      const info = JSON.parse(res.info.info ?? '{}') as { pid?: number; runtimeSpec?: { linux?: { cgroupsPath?: string } } };
      pid = Number(info.pid ?? 0);
      cgroupPath = info.runtimeSpec?.linux?.cgroupsPath ?? '';
    } catch {
      this.logger.debug(`CRI at ${this.endpoint}: container ${id} has no parsable verbose info; pid unknown`);
    }
    const startedNs = res.status?.started_at ?? 0;
    const details = { pid, cgroupPath, startedAt: startedNs > 0 ? new Date(startedNs / 1e6).toISOString() : '' };
    // Only a known pid is worth keeping: an unknown one is asked again next time.
    if (pid > 0) this.details.set(id, details);
    return details;
  }

  protected streamOnce(emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void> {
    return this.pollForChanges(this.pollMs, emit, established);
  }

  protected async closeTransport(): Promise<void> {
    this.client.close();
  }
}

/** The kubelet's restart count of a container: its annotation, else the CRI `metadata.attempt` (the kubelet sets both alike). */
function restartCountOf(c: PbContainer): number | undefined {
  const annotated = Number(c.annotations?.[RESTART_COUNT_ANNOTATION] ?? NaN);
  if (Number.isSafeInteger(annotated) && annotated >= 0) return annotated;
  const attempt = c.metadata?.attempt;
  return typeof attempt === 'number' && Number.isSafeInteger(attempt) && attempt >= 0 ? attempt : undefined;
}

/** The sandbox's own metadata is the pod's identity when the kubelet's labels are missing. */
function k8sFromSandbox(pod: PbSandbox | undefined, containerName: string): KubernetesInfo | undefined {
  if (!pod?.metadata) return undefined;
  return {
    namespace: pod.metadata.namespace ?? '',
    podName: pod.metadata.name,
    podUid: pod.metadata.uid ?? '',
    containerName,
    podLabels: {},
    podAnnotations: {},
  };
}
