import * as grpc from '@grpc/grpc-js';
import { Reader } from 'protobufjs';
import type { ContainerInfo, ContainerState } from '../../../events';
import { BoundedMap } from '../../../pipeline/bounded-map';
import {
  RecentContainers,
  RuntimeClientBase,
  SharedLookups,
  k8sFromLabels,
  withPidDetails,
  type ClientContext,
  type PendingEvent,
} from './common';
import { RESTART_COUNT_ANNOTATION, podLabelsOfSandbox, withPodMetadata, type PodMetadata } from './kubernetes';
import { CHANNEL_OPTIONS, serviceClient, decodeContainerdEvent, unary } from './proto';
import type { RuntimeEvent, RuntimeEventKind } from './types';

/** Label containerd's CRI plugin puts on pod sandboxes (pause containers). */
export const CRI_KIND_LABEL = 'io.cri-containerd.kind';
/** OCI spec annotation of the CRI plugin naming a container's pod sandbox. */
const CRI_SANDBOX_ID_ANNOTATION = 'io.kubernetes.cri.sandbox-id';
/** The CRI plugin's container extensions: its stored metadata, JSON with the kubelet's config. */
const CRI_SANDBOX_METADATA = 'io.cri-containerd.sandbox.metadata';
const CRI_CONTAINER_METADATA = 'io.cri-containerd.container.metadata';
/** The CRI plugin's own labels on a sandbox container (besides the kubelet's). */
const CRI_PLUGIN_LABELS = new Set([CRI_KIND_LABEL]);
/** Pod sandboxes' labels and annotations: fixed once the sandbox is made, one lookup per pod. */
const MAX_POD_CACHE = 1024;
const POD_TTL_MS = 5 * 60_000;
const CALL_TIMEOUT_MS = 5_000;
/** How long the daemon's namespace list is reused by get(); list() always asks afresh. */
const NAMESPACES_TTL_MS = 10_000;
/** An id no cached namespace knows refreshes the list at most this often (most such ids belong to other runtimes). */
const NAMESPACES_MISS_REFRESH_MS = 1_000;
/** Image name → digest entries; the oldest goes when full. */
const MAX_IMAGE_CACHE = 1024;
/** A tag can be re-pointed (pull, tag): a cached digest is trusted this long. */
const IMAGE_TTL_MS = 60_000;
/** Records fetched on `/containers/create`, for the task records that follow; the oldest goes when full. */
const MAX_CREATED_CACHE = 256;
/** A task usually follows its container's creation within a second (CRI: create, then start). */
const CREATED_TTL_MS = 10_000;

export interface ContainerdOptions {
  socket: string;
  /** Namespaces to report; empty = all namespaces the daemon has. */
  namespaces?: string[];
  /** Namespaces skipped when listing all (e.g. `moby` when the Docker client reports those). */
  skipNamespaces?: string[];
}

interface PbTimestamp {
  seconds: number;
  nanos: number;
}
interface PbContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  spec?: { type_url: string; value: Buffer } | null;
  created_at?: PbTimestamp | null;
  extensions?: Record<string, { type_url: string; value: Buffer }>;
}
interface PbProcess {
  container_id: string;
  id: string;
  pid: number;
  status: string;
}
interface PbEnvelope {
  namespace: string;
  topic: string;
  event?: { type_url: string; value: Buffer } | null;
}

const STATUS: Record<string, ContainerState> = {
  CREATED: 'created',
  RUNNING: 'running',
  PAUSED: 'paused',
  PAUSING: 'paused',
  STOPPED: 'stopped',
};

/** Topics we act on → what they mean for the container (exec events are not container lifecycle). */
const TOPIC_KIND: Record<string, RuntimeEventKind> = {
  '/tasks/create': 'created',
  '/tasks/start': 'started',
  '/tasks/exit': 'exited',
  '/tasks/oom': 'oom',
  '/tasks/paused': 'paused',
  '/tasks/resumed': 'resumed',
  '/tasks/delete': 'deleted',
};

/** containerd's native gRPC API: namespaces → containers + tasks, and the `/tasks/` event stream. */
export class ContainerdClient extends RuntimeClientBase {
  readonly runtime = 'containerd' as const;
  readonly endpoint: string;
  private readonly namespaces: string[];
  private readonly skip: Set<string>;
  private readonly clients: {
    namespaces: grpc.Client;
    containers: grpc.Client;
    tasks: grpc.Client;
    images: grpc.Client;
    events: grpc.Client;
    version: grpc.Client;
  };
  /** `ns\0name` → manifest digest. */
  private readonly imageDigests = new SharedLookups<string>(MAX_IMAGE_CACHE, IMAGE_TTL_MS);
  /** `ns\0sandbox id` → the pod's labels and annotations (undefined: no such sandbox). */
  private readonly pods = new SharedLookups<PodMetadata | undefined>(MAX_POD_CACHE, POD_TTL_MS);
  private namespaceCache: { at: number; names: Promise<string[]> } | undefined;
  /** Container records being fetched, so get() and identify() of one id share a call; entries live only while in flight. */
  private readonly records = new Map<string, Promise<PbContainer | undefined>>();
  /**
   * `ns\0id` → record fetched when the container was created, before its task
   * exists: its first records then need no Containers.Get while the daemon is
   * busy starting it. Dropped on `/containers/update|delete` and when the
   * event stream reconnects (changes may have been missed).
   */
  private readonly created = new BoundedMap<string, Promise<PbContainer | undefined>>({ max: MAX_CREATED_CACHE, ttlMs: CREATED_TTL_MS });
  private readonly recent = new RecentContainers();
  /** Sandbox ids seen, so their task events are ignored; bounded by the sandboxes on the host. */
  private sandboxes = new Set<string>();
  private stream: grpc.ClientReadableStream<PbEnvelope> | undefined;

  constructor(options: ContainerdOptions, ctx: ClientContext) {
    super(ctx);
    this.endpoint = options.socket;
    this.namespaces = options.namespaces ?? [];
    this.skip = new Set(options.skipNamespaces ?? []);
    const address = `unix://${options.socket}`;
    const credentials = grpc.credentials.createInsecure();
    // grpc-js pools subchannels per address, so these clients share one connection.
    const make = (name: string) => new (serviceClient(name))(address, credentials, CHANNEL_OPTIONS);
    this.clients = {
      namespaces: make('containerd.services.namespaces.v1.Namespaces'),
      containers: make('containerd.services.containers.v1.Containers'),
      tasks: make('containerd.services.tasks.v1.Tasks'),
      images: make('containerd.services.images.v1.Images'),
      events: make('containerd.services.events.v1.Events'),
      version: make('containerd.services.version.v1.Version'),
    };
  }

  private call<Res>(client: grpc.Client, method: string, request: object, namespace?: string): Promise<Res> {
    const md = new grpc.Metadata();
    if (namespace) md.set('containerd-namespace', namespace);
    return unary<Res>(client, method, request, md, CALL_TIMEOUT_MS);
  }

  /** The namespaces to report; the daemon's list is reused for NAMESPACES_TTL_MS unless `fresh`. */
  private listNamespaces(fresh = false): Promise<string[]> {
    if (this.namespaces.length > 0) return Promise.resolve(this.namespaces);
    const cached = this.namespaceCache;
    if (!fresh && cached && Date.now() - cached.at < NAMESPACES_TTL_MS) return cached.names;
    const entry = {
      at: Date.now(),
      names: this.call<{ namespaces: { name: string }[] }>(this.clients.namespaces, 'List', {}).then((res) =>
        res.namespaces.map((n) => n.name).filter((n) => !this.skip.has(n)),
      ),
    };
    this.namespaceCache = entry;
    entry.names.catch(() => {
      if (this.namespaceCache === entry) this.namespaceCache = undefined;
    });
    return entry.names;
  }

  async list(): Promise<ContainerInfo[]> {
    try {
      const out: ContainerInfo[] = [];
      // Rebuilt per listing so sandboxes removed while we were not watching are forgotten.
      const sandboxes = new Set<string>();
      for (const ns of await this.listNamespaces(true)) {
        const [cs, ts] = await Promise.all([
          this.call<{ containers: PbContainer[] }>(this.clients.containers, 'List', {}, ns),
          this.call<{ tasks: PbProcess[] }>(this.clients.tasks, 'List', {}, ns),
        ]);
        // Tasks.List reports the init process with `id` = container id and no container_id.
        const tasks = new Map(ts.tasks.map((t) => [t.container_id || t.id, t]));
        for (const c of cs.containers) if (isSandbox(c)) sandboxes.add(c.id);
        out.push(...(await Promise.all(cs.containers.filter((c) => !isSandbox(c)).map((c) => this.describe1(ns, c, tasks.get(c.id))))));
      }
      for (const c of out) this.recent.remember(c);
      this.sandboxes = sandboxes;
      this.markHealthy();
      return out;
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  get(id: string): Promise<ContainerInfo | undefined> {
    return this.find(id, true);
  }

  /**
   * The container without its task: no Tasks.Get, which blocks in the shim
   * while the task is being created — exactly when a new container's first
   * records ask. State 'unknown', pid 0; get() (or the task events) tells the rest.
   */
  identify(id: string): Promise<ContainerInfo | undefined> {
    return this.find(id, false);
  }

  private async find(id: string, withTask: boolean): Promise<ContainerInfo | undefined> {
    try {
      const cached = await this.listNamespaces();
      let found = await this.getAcross(cached, id, withTask);
      // A namespace created since the list was cached may hold the container.
      if (
        found === undefined &&
        this.namespaces.length === 0 &&
        Date.now() - (this.namespaceCache?.at ?? 0) >= NAMESPACES_MISS_REFRESH_MS
      ) {
        const added = (await this.listNamespaces(true)).filter((ns) => !cached.includes(ns));
        if (added.length > 0) found = await this.getAcross(added, id, withTask);
      }
      this.markHealthy();
      return found === undefined ? this.recent.recall(id) : (found ?? undefined);
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  /** Asks every namespace at once; the first in list order that has the id answers. */
  private async getAcross(namespaces: readonly string[], id: string, withTask: boolean): Promise<ContainerInfo | null | undefined> {
    const answers = await Promise.all(namespaces.map((ns) => this.getIn(ns, id, withTask)));
    return answers.find((a) => a !== undefined);
  }

  /** undefined = not in this namespace; null = a sandbox (never reported). */
  private async getIn(ns: string, id: string, withTask = true): Promise<ContainerInfo | null | undefined> {
    // Asked alongside the container record: the task answer is the slow one.
    const task = withTask ? this.task(ns, id) : null;
    // Also handled here: a task error must not go unhandled when the record says there is nothing to describe.
    task?.catch(() => undefined);
    const c = await this.record(ns, id);
    if (c === undefined) return undefined;
    if (isSandbox(c)) {
      this.sandboxes.add(c.id);
      return null;
    }
    const info = await this.describe1(ns, c, task);
    this.recent.remember(info);
    return info;
  }

  private record(ns: string, id: string): Promise<PbContainer | undefined> {
    const key = `${ns}\0${id}`;
    const created = this.created.get(key);
    if (created) return created;
    const inFlight = this.records.get(key);
    if (inFlight) return inFlight;
    const pending = this.call<{ container: PbContainer }>(this.clients.containers, 'Get', { id }, ns).then(
      (res): PbContainer | undefined => res.container,
      (err: grpc.ServiceError) => {
        if (err.code === grpc.status.NOT_FOUND) return undefined;
        throw err;
      },
    );
    this.records.set(key, pending);
    const forget = () => {
      if (this.records.get(key) === pending) this.records.delete(key);
    };
    pending.then(forget, forget);
    return pending;
  }

  private async task(ns: string, id: string): Promise<PbProcess | undefined> {
    try {
      return (await this.call<{ process: PbProcess }>(this.clients.tasks, 'Get', { container_id: id }, ns)).process;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) return undefined;
      throw err;
    }
  }

  /** `task` null: not asked (state unknown); undefined: the container has no task yet. */
  private async describe1(
    ns: string,
    c: PbContainer,
    taskAnswer: PbProcess | undefined | null | Promise<PbProcess | undefined>,
  ): Promise<ContainerInfo> {
    const spec = specFields(c.spec?.value);
    const identity = k8sFromLabels(c.labels);
    const criMeta = identity ? criMetadata(c, CRI_CONTAINER_METADATA) : undefined;
    const sandboxId = spec.annotations[CRI_SANDBOX_ID_ANNOTATION] || stringAt(criMeta, 'SandboxID');
    const [task, digest, pod] = await Promise.all([
      taskAnswer,
      this.imageDigest(ns, c.image),
      identity && sandboxId ? this.podMetadata(ns, sandboxId) : undefined,
    ]);
    const pid = task && (task.status === 'RUNNING' || task.status === 'PAUSED' || task.status === 'PAUSING') ? task.pid : 0;
    let k8s = identity && withPodMetadata(identity, pod);
    const restartCount = k8s && restartCountOf(criMeta);
    if (k8s && restartCount !== undefined) k8s = { ...k8s, restartCount };
    return withPidDetails(this.hostProc, {
      id: c.id,
      // containerd has no container names; Kubernetes and nerdctl keep theirs in labels.
      name: k8s?.containerName || c.labels['nerdctl/name'] || c.id,
      runtime: 'containerd',
      state: task === null ? 'unknown' : task ? (STATUS[task.status] ?? 'unknown') : 'created',
      pid,
      mntns: 0,
      cgroupPath: spec.cgroupsPath,
      image: { name: c.image, id: '', digest },
      labels: { ...c.labels, 'io.containerd.namespace': ns },
      ...(k8s ? { k8s } : {}),
      sandbox: false,
      startedAt: '',
    });
  }

  /**
   * The pod's labels and annotations from its sandbox container: the CRI plugin's stored sandbox
   * config (exactly what the kubelet sent), else the sandbox container's labels (the pod's labels,
   * the kubelet's, the plugin's and the pause image's merged). A failed lookup leaves them out.
   */
  private podMetadata(ns: string, sandboxId: string): Promise<PodMetadata | undefined> {
    return this.pods
      .get(`${ns}\0${sandboxId}`, () =>
        this.record(ns, sandboxId).then((sandbox) => {
          if (!sandbox) return undefined;
          const config = objectAt(criMetadata(sandbox, CRI_SANDBOX_METADATA), 'Config');
          const labels = objectAt(config, 'labels');
          if (!config || !labels) return { labels: podLabelsOfSandbox(sandbox.labels, CRI_PLUGIN_LABELS), annotations: {} };
          return { labels: podLabelsOfSandbox(stringMap(labels)), annotations: stringMap(objectAt(config, 'annotations')) };
        }),
      )
      .catch(() => undefined);
  }

  /** Image name → manifest digest; every container of an image asks. */
  private imageDigest(ns: string, name: string): Promise<string> {
    if (!name) return Promise.resolve('');
    return this.imageDigests.get(`${ns}\0${name}`, () =>
      this.call<{ image: { target?: { digest: string } } }>(this.clients.images, 'Get', { name }, ns).then(
        (res) => res.image.target?.digest ?? '',
        (err: grpc.ServiceError) => {
          if (err.code === grpc.status.NOT_FOUND) return '';
          throw err;
        },
      ),
    );
  }

  protected streamOnce(emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = (this.clients.events as unknown as { Subscribe(req: object): grpc.ClientReadableStream<PbEnvelope> }).Subscribe({
        filters: this.eventFilters(),
      });
      this.stream = stream;
      this.created.clear();
      let up = false;
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        stream.cancel();
        reject(err);
      };
      // A subscription says nothing until its first event: a unary call on the same connection
      // tells when the daemon is there (and fails fast when it is not).
      this.call(this.clients.version, 'Version', {})
        .then(() => {
          up = true;
          return established();
        })
        .catch(fail);
      stream.on('data', (env: PbEnvelope) => {
        if (!up) return;
        const ev = this.toEvent(env);
        if (ev) emit(ev);
      });
      stream.on('error', (err: grpc.ServiceError) => {
        if (err.code === grpc.status.CANCELLED && this.abort.signal.aborted) return resolve();
        fail(err);
      });
      stream.on('end', () => {
        if (!failed) resolve();
      });
    });
  }

  /** containerd filter syntax: a comma joins conditions (and), separate filters are alternatives (or). */
  private eventFilters(): string[] {
    // Container changes keep the record cache (`created`) honest; tasks are the lifecycle.
    const topics = 'topic~="^/(tasks|containers)/"';
    if (this.namespaces.length > 0) return this.namespaces.map((ns) => `${topics},namespace==${JSON.stringify(ns)}`);
    return [[topics, ...[...this.skip].map((ns) => `namespace!=${JSON.stringify(ns)}`)].join(',')];
  }

  private toEvent(env: PbEnvelope): PendingEvent | undefined {
    this.noteNamespace(env.namespace);
    if (env.topic.startsWith('/containers/')) {
      if (env.event) this.onContainerChange(env.namespace, env.topic, env.event.value);
      return undefined;
    }
    const kind = TOPIC_KIND[env.topic];
    if (!kind || !env.event) return undefined;
    const payload = decodeContainerdEvent(env.event.type_url, env.event.value);
    const id = String(payload?.container_id ?? '');
    if (!id) return undefined;
    // An exec'd process exiting is not the container exiting.
    if ((kind === 'exited' && payload?.id && payload.id !== id) || (kind === 'deleted' && payload?.id && payload.id !== id))
      return undefined;
    const pid = Number(payload?.pid ?? 0);
    if (this.sandboxes.has(id)) {
      if (kind === 'deleted') this.sandboxes.delete(id);
      return undefined;
    }
    this.recent.refresh(id);
    if (kind !== 'started') return { kind, runtime: this.runtime, id, pid } satisfies RuntimeEvent;
    // A start is reported even when the details cannot be fetched; the caller can get() later.
    return this.getIn(env.namespace, id).then(
      (container) => (container === null ? undefined : { kind, runtime: this.runtime, id, pid, ...(container ? { container } : {}) }),
      () => ({ kind, runtime: this.runtime, id, pid }),
    );
  }

  cacheEvictions(): number {
    return this.created.evictions + this.imageDigests.evictions + this.pods.evictions + this.recent.evictions;
  }

  private onContainerChange(ns: string, topic: string, payload: Buffer): void {
    const { id, image } = containerEventFields(payload);
    if (!id) return;
    const key = `${ns}\0${id}`;
    this.created.delete(key);
    this.recent.refresh(id);
    if (topic !== '/containers/create') return;
    const record = this.record(ns, id);
    this.created.set(key, record);
    const forget = () => this.created.deleteIf(key, record);
    record.then((c) => {
      if (!c) forget();
    }, forget);
    // Described (image digest included) and so remembered while it exists: `ctr run --rm` removes
    // a container milliseconds after its task exits. One already gone has only what the event says.
    this.getIn(ns, id, false)
      .then((info) => (info === undefined ? this.describe1(ns, { id, image, labels: {} }, null) : undefined))
      .then(
        (gone) => gone && this.recent.refresh(id, gone),
        () => undefined,
      );
  }

  /** An event from a namespace the cached list lacks makes get() ask for the list again. */
  private noteNamespace(ns: string): void {
    const cached = this.namespaceCache;
    if (!cached || this.skip.has(ns)) return;
    cached.names.then(
      (names) => {
        if (!names.includes(ns) && this.namespaceCache === cached) this.namespaceCache = undefined;
      },
      () => undefined,
    );
  }

  protected async closeTransport(): Promise<void> {
    this.stream?.cancel();
    for (const c of Object.values(this.clients)) c.close();
  }
}

/** Fields 1 (`id`) and 2 (`image`, absent from ContainerDelete) of containerd's ContainerCreate / ContainerUpdate / ContainerDelete events. */
function containerEventFields(payload: Buffer): { id: string; image: string } {
  const fields = { id: '', image: '' };
  try {
    const r = Reader.create(payload);
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === 2) fields.id = r.string();
      else if (tag >>> 3 === 2 && (tag & 7) === 2) fields.image = r.string();
      else r.skipType(tag & 7);
    }
  } catch {
    // A payload we cannot read only costs the prefetch.
  }
  return fields;
}

function isSandbox(c: PbContainer): boolean {
  return c.labels[CRI_KIND_LABEL] === 'sandbox';
}

/** `linux.cgroupsPath` and `annotations` of the OCI spec containerd stores as JSON in the container's spec Any. */
function specFields(value: Buffer | undefined): { cgroupsPath: string; annotations: Record<string, string> } {
  if (!value || value.length === 0) return { cgroupsPath: '', annotations: {} };
  try {
    const spec = JSON.parse(value.toString('utf8')) as { linux?: { cgroupsPath?: string }; annotations?: unknown };
    return { cgroupsPath: String(spec.linux?.cgroupsPath ?? ''), annotations: stringMap(spec.annotations) };
  } catch {
    return { cgroupsPath: '', annotations: {} };
  }
}

/**
 * The `Metadata` object of a CRI plugin extension (JSON `{"Version":"v1","Metadata":{…}}`: the
 * plugin's sandbox or container record, with the kubelet's CRI config under `Config`).
 */
function criMetadata(c: PbContainer, key: string): Record<string, unknown> | undefined {
  const value = c.extensions?.[key]?.value;
  if (!value || value.length === 0) return undefined;
  try {
    return objectAt(JSON.parse(Buffer.from(value).toString('utf8')) as unknown, 'Metadata');
  } catch {
    return undefined;
  }
}

/** The kubelet's restart count of a container: its annotation, else the CRI `metadata.attempt` (omitted from the JSON when 0). */
function restartCountOf(meta: Record<string, unknown> | undefined): number | undefined {
  const config = objectAt(meta, 'Config');
  if (!config) return undefined;
  const annotated = Number(stringMap(objectAt(config, 'annotations'))[RESTART_COUNT_ANNOTATION] ?? NaN);
  if (Number.isSafeInteger(annotated) && annotated >= 0) return annotated;
  const attempt = Number(objectAt(config, 'metadata')?.attempt ?? 0);
  return Number.isSafeInteger(attempt) && attempt >= 0 ? attempt : undefined;
}

function objectAt(value: unknown, key: string): Record<string, unknown> | undefined {
  const v = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function stringAt(value: Record<string, unknown> | undefined, key: string): string {
  const v = value?.[key];
  return typeof v === 'string' ? v : '';
}

/** The string entries of a JSON object (labels, annotations); anything else is dropped. */
function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}
