import * as grpc from '@grpc/grpc-js';
import type { ContainerInfo, ContainerState } from '../../../events';
import { RuntimeClientBase, k8sFromLabels, withPidDetails, type ClientContext, type PendingEvent } from './common';
import { serviceClient, decodeContainerdEvent, unary } from './proto';
import type { RuntimeEvent, RuntimeEventKind } from './types';

/** Label containerd's CRI plugin puts on pod sandboxes (pause containers). */
export const CRI_KIND_LABEL = 'io.cri-containerd.kind';
const CALL_TIMEOUT_MS = 5_000;

export interface ContainerdOptions {
  socket: string;
  /** Namespaces to report; empty = all namespaces the daemon has. */
  namespaces?: string[];
  /** Namespaces skipped when listing all (e.g. `moby` when the Docker client reports those). */
  skipNamespaces?: string[];
}

interface PbTimestamp { seconds: number; nanos: number }
interface PbContainer {
  id: string;
  labels: Record<string, string>;
  image: string;
  spec?: { type_url: string; value: Buffer } | null;
  created_at?: PbTimestamp | null;
}
interface PbProcess { container_id: string; id: string; pid: number; status: string }
interface PbEnvelope { namespace: string; topic: string; event?: { type_url: string; value: Buffer } | null }

const STATUS: Record<string, ContainerState> = { CREATED: 'created', RUNNING: 'running', PAUSED: 'paused', PAUSING: 'paused', STOPPED: 'stopped' };

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
  private readonly imageDigests = new Map<string, string>();
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
    const make = (name: string) => new (serviceClient(name))(address, credentials);
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

  private async listNamespaces(): Promise<string[]> {
    if (this.namespaces.length > 0) return this.namespaces;
    const res = await this.call<{ namespaces: { name: string }[] }>(this.clients.namespaces, 'List', {});
    return res.namespaces.map((n) => n.name).filter((n) => !this.skip.has(n));
  }

  async list(): Promise<ContainerInfo[]> {
    try {
      const out: ContainerInfo[] = [];
      // Rebuilt per listing so sandboxes removed while we were not watching are forgotten.
      const sandboxes = new Set<string>();
      for (const ns of await this.listNamespaces()) {
        const [cs, ts] = await Promise.all([
          this.call<{ containers: PbContainer[] }>(this.clients.containers, 'List', {}, ns),
          this.call<{ tasks: PbProcess[] }>(this.clients.tasks, 'List', {}, ns),
        ]);
        // Tasks.List reports the init process with `id` = container id and no container_id.
        const tasks = new Map(ts.tasks.map((t) => [t.container_id || t.id, t]));
        for (const c of cs.containers) {
          if (isSandbox(c)) sandboxes.add(c.id);
          else out.push(await this.describe1(ns, c, tasks.get(c.id)));
        }
      }
      this.sandboxes = sandboxes;
      this.markHealthy();
      return out;
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  async get(id: string): Promise<ContainerInfo | undefined> {
    try {
      for (const ns of await this.listNamespaces()) {
        const found = await this.getIn(ns, id);
        if (found !== undefined) {
          this.markHealthy();
          return found ?? undefined;
        }
      }
      this.markHealthy();
      return undefined;
    } catch (err) {
      throw await this.markUnhealthy(err);
    }
  }

  /** undefined = not in this namespace; null = a sandbox (never reported). */
  private async getIn(ns: string, id: string): Promise<ContainerInfo | null | undefined> {
    let c: PbContainer;
    try {
      c = (await this.call<{ container: PbContainer }>(this.clients.containers, 'Get', { id }, ns)).container;
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) return undefined;
      throw err;
    }
    if (isSandbox(c)) {
      this.sandboxes.add(c.id);
      return null;
    }
    let task: PbProcess | undefined;
    try {
      task = (await this.call<{ process: PbProcess }>(this.clients.tasks, 'Get', { container_id: id }, ns)).process;
    } catch (err) {
      if ((err as grpc.ServiceError).code !== grpc.status.NOT_FOUND) throw err;
    }
    return this.describe1(ns, c, task);
  }

  private async describe1(ns: string, c: PbContainer, task: PbProcess | undefined): Promise<ContainerInfo> {
    const pid = task && (task.status === 'RUNNING' || task.status === 'PAUSED' || task.status === 'PAUSING') ? task.pid : 0;
    const k8s = k8sFromLabels(c.labels);
    return withPidDetails(this.hostProc, {
      id: c.id,
      // containerd has no container names; Kubernetes and nerdctl keep theirs in labels.
      name: k8s?.containerName || c.labels['nerdctl/name'] || c.id,
      runtime: 'containerd',
      state: task ? (STATUS[task.status] ?? 'unknown') : 'created',
      pid,
      mntns: 0,
      cgroupPath: cgroupsPathFromSpec(c.spec?.value),
      image: { name: c.image, digest: await this.imageDigest(ns, c.image) },
      labels: { ...c.labels, 'io.containerd.namespace': ns },
      ...(k8s ? { k8s } : {}),
      sandbox: false,
      startedAt: '',
    });
  }

  /** Image name → manifest digest; cached (bounded: cleared when full) since every container of an image asks. */
  private async imageDigest(ns: string, name: string): Promise<string> {
    if (!name) return '';
    const key = `${ns}\0${name}`;
    const cached = this.imageDigests.get(key);
    if (cached !== undefined) return cached;
    let digest = '';
    try {
      digest = (await this.call<{ image: { target?: { digest: string } } }>(this.clients.images, 'Get', { name }, ns)).image.target?.digest ?? '';
    } catch (err) {
      if ((err as grpc.ServiceError).code !== grpc.status.NOT_FOUND) throw err;
    }
    if (this.imageDigests.size >= MAX_IMAGE_CACHE) this.imageDigests.clear();
    this.imageDigests.set(key, digest);
    return digest;
  }

  protected streamOnce(emit: (event: PendingEvent) => void, established: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const stream = (this.clients.events as unknown as { Subscribe(req: object): grpc.ClientReadableStream<PbEnvelope> }).Subscribe({
        filters: this.eventFilters(),
      });
      this.stream = stream;
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
    const tasks = 'topic~="^/tasks/"';
    if (this.namespaces.length > 0) return this.namespaces.map((ns) => `${tasks},namespace==${JSON.stringify(ns)}`);
    return [[tasks, ...[...this.skip].map((ns) => `namespace!=${JSON.stringify(ns)}`)].join(',')];
  }

  private toEvent(env: PbEnvelope): PendingEvent | undefined {
    const kind = TOPIC_KIND[env.topic];
    if (!kind || !env.event) return undefined;
    const payload = decodeContainerdEvent(env.event.type_url, env.event.value);
    const id = String(payload?.container_id ?? '');
    if (!id) return undefined;
    // An exec'd process exiting is not the container exiting.
    if ((kind === 'exited' && payload?.id && payload.id !== id) || (kind === 'deleted' && payload?.id && payload.id !== id)) return undefined;
    const pid = Number(payload?.pid ?? 0);
    if (this.sandboxes.has(id)) {
      if (kind === 'deleted') this.sandboxes.delete(id);
      return undefined;
    }
    if (kind !== 'started') return { kind, runtime: this.runtime, id, pid } satisfies RuntimeEvent;
    // A start is reported even when the details cannot be fetched; the caller can get() later.
    return this.getIn(env.namespace, id).then(
      (container) => (container === null ? undefined : { kind, runtime: this.runtime, id, pid, ...(container ? { container } : {}) }),
      () => ({ kind, runtime: this.runtime, id, pid }),
    );
  }

  protected async closeTransport(): Promise<void> {
    this.stream?.cancel();
    for (const c of Object.values(this.clients)) c.close();
  }
}

const MAX_IMAGE_CACHE = 1024;

function isSandbox(c: PbContainer): boolean {
  return c.labels[CRI_KIND_LABEL] === 'sandbox';
}

/** `linux.cgroupsPath` of the OCI spec containerd stores as JSON in the container's spec Any. */
function cgroupsPathFromSpec(value: Buffer | undefined): string {
  if (!value || value.length === 0) return '';
  try {
    return String((JSON.parse(value.toString('utf8')) as { linux?: { cgroupsPath?: string } }).linux?.cgroupsPath ?? '');
  } catch {
    return '';
  }
}
