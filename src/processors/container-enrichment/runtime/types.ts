import type { ContainerInfo, RuntimeName } from '../../../events';

export type RuntimeEventKind = 'started' | 'exited' | 'oom' | 'paused' | 'resumed' | 'created' | 'deleted';

export interface RuntimeEvent {
  kind: RuntimeEventKind;
  runtime: RuntimeName;
  id: string;
  /** Filled when the client already had to fetch it (e.g. after `started`). */
  container?: ContainerInfo;
  /** Host pid of the task/process the event is about, 0 when unknown. */
  pid?: number;
}

/** One container runtime behind the interface the processor uses (docs/design.md §3). */
export interface RuntimeClient {
  readonly runtime: RuntimeName;
  /** Endpoint in use (socket path or lxcpath), for status output. */
  readonly endpoint: string;
  /**
   * Workload containers, sandboxes excluded. Throws RuntimeUnavailableError when unreachable,
   * having warned about the outage itself (once per outage), so callers need not warn again.
   */
  list(): Promise<ContainerInfo[]>;
  /** One container by id (full id; clients may accept a unique prefix); undefined when unknown. */
  get(id: string): Promise<ContainerInfo | undefined>;
  /**
   * Optional: the container's identity (name, image, labels) sooner than get()
   * where the runtime's task state is slow to ask for; pid/state may be
   * unknown (0/'unknown'). The on-demand lookup settles on it and takes get()'s
   * fuller answer after.
   */
  identify?(id: string): Promise<ContainerInfo | undefined>;
  /**
   * Streams lifecycle events until close(); reconnects with backoff and calls
   * `onResync` after a reconnect so the caller can re-list.
   */
  watch(onEvent: (event: RuntimeEvent) => void, onResync?: () => void): void;
  /** Whether the last call/stream succeeded; exported as a metric. */
  healthy(): boolean;
  /** Optional, for clients with bounded caches: entries dropped because a cache was full; exported as a metric. */
  cacheEvictions?(): number;
  close(): Promise<void>;
}

export class RuntimeUnavailableError extends Error {
  constructor(
    readonly runtime: RuntimeName,
    readonly endpoint: string,
    reason: string,
  ) {
    super(`${runtime} at ${endpoint}: ${reason}`);
    this.name = 'RuntimeUnavailableError';
  }
}
