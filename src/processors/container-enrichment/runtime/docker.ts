import * as http from 'node:http';
import type { ContainerInfo, ContainerState } from '../../../events';
import {
  RecentContainers,
  RuntimeClientBase,
  SharedLookups,
  k8sFromLabels,
  mapLimit,
  withPidDetails,
  type ClientContext,
  type PendingEvent,
} from './common';
import {
  DOCKER_ANNOTATION_PREFIX,
  RESTART_COUNT_ANNOTATION,
  podMetadataOfDockerSandbox,
  withPodMetadata,
  type PodMetadata,
} from './kubernetes';
import type { RuntimeEventKind } from './types';

const CALL_TIMEOUT_MS = 5_000;
const INSPECT_CONCURRENCY = 8;
/** Inspections started by `create` events at once; more would queue ahead of get() (the events' attributes still describe the rest). */
const PREFETCH_CONCURRENCY = 4;
/** Image id → repository digests entries; the oldest goes when full. */
const MAX_IMAGE_CACHE = 1024;
/** An image id is immutable, but a push or pull can add a repository digest to it. */
const IMAGE_TTL_MS = 60_000;
/** Label cri-dockerd puts on pod sandboxes. */
const DOCKER_TYPE_LABEL = 'io.kubernetes.docker.type';
/** Label cri-dockerd puts on a pod's containers, naming its sandbox container. */
const DOCKER_SANDBOX_ID_LABEL = 'io.kubernetes.sandbox.id';
/** Pod sandboxes' labels and annotations: fixed once the sandbox is made, one inspect per pod. */
const MAX_POD_CACHE = 1024;
const POD_TTL_MS = 5 * 60_000;

export interface DockerOptions {
  socket: string;
}

interface Inspect {
  Id: string;
  Name: string;
  Image: string;
  State: { Status: string; Pid: number; StartedAt?: string };
  Config: { Image: string; Labels: Record<string, string> | null };
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  id?: string;
  from?: string;
}

/** Event attributes that are not container labels (the engines merge both into one map); Podman adds the last two. */
const EVENT_ATTRIBUTES = new Set(['name', 'image', 'exitCode', 'containerExitCode', 'podId']);

const STATE: Record<string, ContainerState> = {
  created: 'created',
  running: 'running',
  restarting: 'running',
  paused: 'paused',
  exited: 'stopped',
  dead: 'stopped',
  removing: 'stopped',
  stopped: 'stopped',
};

const ACTION_KIND: Record<string, RuntimeEventKind> = {
  create: 'created',
  start: 'started',
  die: 'exited',
  oom: 'oom',
  pause: 'paused',
  unpause: 'resumed',
  destroy: 'deleted',
  // Podman's word for destroy.
  remove: 'deleted',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Docker Engine API over its unix socket: `/containers/json`, `/containers/{id}/json` (for the
 * pid) and the streaming `/events`. Podman's API service speaks the same compatible endpoints,
 * so the same client serves both (`runtime` says which).
 */
export class DockerClient extends RuntimeClientBase {
  readonly endpoint: string;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: INSPECT_CONCURRENCY + 1 });
  private eventsRequest: http.ClientRequest | undefined;
  /** Image id → the repository digest of the container's image reference. */
  private readonly repoDigests = new SharedLookups<string[]>(MAX_IMAGE_CACHE, IMAGE_TTL_MS);
  /** Sandbox container id → the pod's labels and annotations (cri-dockerd; undefined: no such container). */
  private readonly pods = new SharedLookups<PodMetadata | undefined>(MAX_POD_CACHE, POD_TTL_MS);
  private readonly recent = new RecentContainers();
  private prefetching = 0;

  constructor(
    readonly runtime: 'docker' | 'podman',
    options: DockerOptions,
    ctx: ClientContext,
  ) {
    super(ctx);
    this.endpoint = options.socket;
  }

  private request<T>(path: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = http.get(
        { socketPath: this.endpoint, path, agent: this.agent, timeout: CALL_TIMEOUT_MS, headers: { Host: 'localhost' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200) {
              let message = body.trim();
              try {
                message = (JSON.parse(body) as { message?: string }).message ?? message;
              } catch {
                /* not JSON */
              }
              // Podman answers 500 "no such container" for a container removed while it was being looked up.
              const status = res.statusCode === 500 && /no such container/i.test(message) ? 404 : (res.statusCode ?? 0);
              return reject(new HttpError(status, `GET ${path}: HTTP ${res.statusCode}: ${message}`));
            }
            try {
              resolve(JSON.parse(body) as T);
            } catch (err) {
              reject(new Error(`GET ${path}: invalid JSON from ${this.runtime}: ${(err as Error).message}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
      req.on('error', reject);
    });
  }

  async list(): Promise<ContainerInfo[]> {
    try {
      const summaries = await this.request<{ Id: string }[]>('/containers/json');
      const infos = await mapLimit(summaries, INSPECT_CONCURRENCY, (s) => this.inspect(s.Id));
      this.markHealthy();
      return infos.filter((c): c is ContainerInfo => c !== undefined && !c.sandbox);
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  async get(id: string): Promise<ContainerInfo | undefined> {
    try {
      const info = (await this.inspect(id)) ?? this.recent.recall(id);
      this.markHealthy();
      return info?.sandbox ? undefined : info;
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  /** undefined when the container is gone (removed between list and inspect). */
  private async inspect(id: string): Promise<ContainerInfo | undefined> {
    let c: Inspect;
    try {
      c = await this.request<Inspect>(`/containers/${encodeURIComponent(id)}/json`);
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return undefined;
      throw err;
    }
    const labels = c.Config.Labels ?? {};
    const state = STATE[c.State.Status] ?? 'unknown';
    const identity = k8sFromLabels(labels);
    const sandboxId = identity ? (labels[DOCKER_SANDBOX_ID_LABEL] ?? '') : '';
    let k8s = identity && withPodMetadata(identity, sandboxId ? await this.podMetadata(sandboxId) : undefined);
    const restartCount = Number(labels[DOCKER_ANNOTATION_PREFIX + RESTART_COUNT_ANNOTATION] ?? NaN);
    if (k8s && Number.isSafeInteger(restartCount) && restartCount >= 0) k8s = { ...k8s, restartCount };
    const info = await withPidDetails(this.hostProc, {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      runtime: this.runtime,
      state,
      pid: state === 'running' || state === 'paused' ? c.State.Pid : 0,
      mntns: 0,
      cgroupPath: '',
      // The engine's image id is the digest of the image config, not a repository digest.
      image: {
        name: c.Config.Image,
        id: c.Image,
        digest: repoDigestFor(c.Config.Image, await this.imageRepoDigests(c.Image).catch(() => [])),
      },
      labels,
      ...(k8s ? { k8s } : {}),
      sandbox: labels[DOCKER_TYPE_LABEL] === 'podsandbox',
      startedAt: c.State.StartedAt && !c.State.StartedAt.startsWith('0001-') ? c.State.StartedAt : '',
    });
    this.recent.remember(info);
    return info;
  }

  cacheEvictions(): number {
    return this.repoDigests.evictions + this.pods.evictions + this.recent.evictions;
  }

  /** The pod's labels and annotations from its cri-dockerd sandbox container; a failed lookup leaves them out. */
  private podMetadata(sandboxId: string): Promise<PodMetadata | undefined> {
    return this.pods
      .get(sandboxId, () =>
        this.request<Inspect>(`/containers/${encodeURIComponent(sandboxId)}/json`).then(
          (sandbox) =>
            sandbox.Config.Labels?.[DOCKER_TYPE_LABEL] === 'podsandbox' ? podMetadataOfDockerSandbox(sandbox.Config.Labels) : undefined,
          (err: unknown) => {
            if (err instanceof HttpError && err.status === 404) return undefined;
            throw err;
          },
        ),
      )
      .catch(() => undefined);
  }

  /**
   * `RepoDigests` of an image (`repo@sha256:…`); none for an image never pushed or pulled, or gone.
   * A failed lookup leaves the container without one rather than failing its inspect.
   */
  private imageRepoDigests(imageId: string): Promise<string[]> {
    if (!imageId) return Promise.resolve([]);
    return this.repoDigests.get(imageId, () =>
      this.request<{ RepoDigests?: string[] | null }>(`/images/${encodeURIComponent(imageId)}/json`).then(
        (img) => img.RepoDigests ?? [],
        (err: unknown) => {
          if (err instanceof HttpError && err.status === 404) return [];
          throw err;
        },
      ),
    );
  }

  protected streamOnce(emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const filters = encodeURIComponent(JSON.stringify({ type: ['container'] }));
      // No agent: the stream holds its connection for as long as it lives.
      const req = http.get({ socketPath: this.endpoint, path: `/events?filters=${filters}`, headers: { Host: 'localhost' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`GET /events: HTTP ${res.statusCode}`));
        }
        let buffered = '';
        const ready = established();
        ready.catch((err: unknown) => req.destroy(err as Error));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            const ev = this.toEvent(line);
            // Events wait for the initial list so the tracker is seeded first.
            if (ev) emit(ready.then(() => ev));
          }
          if (buffered.length > MAX_EVENT_BYTES) req.destroy(new Error(`an event line exceeded ${MAX_EVENT_BYTES} bytes`));
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      this.eventsRequest = req;
      req.on('error', (err) => (this.abort.signal.aborted ? resolve() : reject(err)));
    });
  }

  private toEvent(line: string): PendingEvent | undefined {
    let ev: DockerEvent;
    try {
      ev = JSON.parse(line) as DockerEvent;
    } catch {
      this.logger.debug(`${this.runtime}: ignored a malformed event line`);
      return undefined;
    }
    if (ev.Type !== 'container') return undefined;
    const kind = ACTION_KIND[ev.Action ?? ''];
    const id = ev.Actor?.ID ?? ev.id ?? '';
    if (!kind || !id) return undefined;
    const attributes = ev.Actor?.Attributes ?? {};
    if (attributes[DOCKER_TYPE_LABEL] === 'podsandbox') return undefined;
    this.recent.refresh(id, this.fromAttributes(id, attributes, ev.from ?? ''));
    if (kind === 'created') this.prefetch(id);
    if (kind !== 'started') return { kind, runtime: this.runtime, id };
    // A start is reported even when the details cannot be fetched; the caller can get() later.
    return this.inspect(id).then(
      (container) =>
        container?.sandbox ? undefined : { kind, runtime: this.runtime, id, pid: container?.pid ?? 0, ...(container ? { container } : {}) },
      () => ({ kind, runtime: this.runtime, id, pid: 0 }),
    );
  }

  /** What every container event says about its container: name, image reference and labels. */
  private fromAttributes(id: string, attributes: Record<string, string>, from: string): ContainerInfo {
    const labels = Object.fromEntries(Object.entries(attributes).filter(([key]) => !EVENT_ATTRIBUTES.has(key)));
    const k8s = k8sFromLabels(labels);
    return {
      id,
      name: attributes.name ?? '',
      runtime: this.runtime,
      state: 'unknown',
      pid: 0,
      mntns: 0,
      cgroupPath: '',
      image: { name: attributes.image ?? from, id: '', digest: '' },
      labels,
      ...(k8s ? { k8s } : {}),
      sandbox: false,
      startedAt: '',
    };
  }

  /** Inspects (and so remembers) a container as soon as it exists: a `--rm` one may be gone before anyone asks. */
  private prefetch(id: string): void {
    if (this.prefetching >= PREFETCH_CONCURRENCY) return;
    this.prefetching++;
    this.inspect(id)
      .catch(() => undefined)
      .finally(() => this.prefetching--);
  }

  protected async closeTransport(): Promise<void> {
    this.eventsRequest?.destroy();
    this.agent.destroy();
  }
}

/** A single event is a few hundred bytes; a line this long means the stream is not what we think. */
const MAX_EVENT_BYTES = 1 << 20;

/** The repository digest of `reference`'s repository, else the first one ('' for none). */
function repoDigestFor(reference: string, digests: string[]): string {
  const repo = reference.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
  return digests.find((d) => d.slice(0, d.indexOf('@')) === repo) ?? digests[0] ?? '';
}
