import type { ContainerInfo, EventBatch } from '../../events';
import { nativeLogRecordEncoder } from '../../native';
import type { HostInfo } from '../../pipeline/component';
import { ERRNO_NAMES, type PodMetadataPolicy, type ResourceAttribute, ResourceCache, SCOPE } from '../log-mapping';
import { ProtoBuffer, WireType, lenField, stringField, tag, varintSize } from './proto-buffer';

/*
 * Field numbers from opentelemetry/proto (collector/logs/v1, logs/v1,
 * common/v1, resource/v1). The test decodes our bytes with the generated
 * definitions shipped by @opentelemetry/otlp-transformer. LogRecords
 * themselves are written by native/addon/otlp_logs.c.
 */
const F = {
  request: { resourceLogs: 1 },
  resourceLogs: { resource: 1, scopeLogs: 2 },
  resource: { attributes: 1 },
  scopeLogs: { scope: 1 },
  scope: { name: 1, version: 2 },
  keyValue: { key: 1, value: 2 },
  anyValue: { string: 1, int: 3, array: 5 },
  arrayValue: { values: 1 },
} as const;

const T_SCOPE_LOGS = tag(F.resourceLogs.scopeLogs, WireType.len);
const T_RESOURCE_LOGS = tag(F.request.resourceLogs, WireType.len);

/** `ScopeLogs.scope`, identical in every request. */
const SCOPE_FIELD = lenField(F.scopeLogs.scope, Buffer.concat([stringField(F.scope.name, SCOPE.name), stringField(F.scope.version, SCOPE.version)]));

function anyValueBytes(value: string | string[] | number): Buffer {
  if (typeof value === 'string') return stringField(F.anyValue.string, value);
  if (typeof value === 'number') {
    // Resource ints are small and never negative (a restart count).
    const out = new ProtoBuffer(16);
    out.varint(tag(F.anyValue.int, WireType.varint));
    out.varint(Math.max(0, Math.trunc(value)));
    return out.buf.subarray(0, out.pos);
  }
  const values = Buffer.concat(value.map((v) => lenField(F.arrayValue.values, stringField(F.anyValue.string, v))));
  return lenField(F.anyValue.array, values);
}

/** `ResourceLogs.resource` field, encoded once per container. */
function resourceField(attrs: ResourceAttribute[]): Buffer {
  const kvs = attrs.map((a) => lenField(F.resource.attributes, Buffer.concat([stringField(F.keyValue.key, a.key), lenField(F.keyValue.value, anyValueBytes(a.value))])));
  return lenField(F.resourceLogs.resource, Buffer.concat(kvs));
}

/** Records of one resource in the open request. */
interface ResourceGroup {
  resource: Buffer;
  records: ProtoBuffer;
}

export interface EncodedRequest {
  /** A serialized ExportLogsServiceRequest. */
  payload: Buffer;
  records: number;
  /** The buffer `payload` lives in, to hand back to the allocator once the request is done. */
  backing: Buffer;
}

export interface RequestLimits {
  /** Records per request. */
  maxRecords: number;
  /** Bytes per request; a single record larger than this still goes, alone. */
  maxBytes: number;
}

/** Group buffers kept for reuse between requests: at most this many, of at most this many bytes in all. */
const MAX_POOLED_BUFFERS = 64;
const MAX_POOLED_BYTES = 16 * 1024 * 1024;
/** Bytes a group adds around its records: the resource plus ScopeLogs / ResourceLogs framing. */
const GROUP_FRAMING = SCOPE_FIELD.length + 16;

let errnoTable: Array<string | undefined> | undefined;
function errnoNames(): Array<string | undefined> {
  if (!errnoTable) {
    errnoTable = [];
    for (const [n, name] of ERRNO_NAMES) errnoTable[n] = name;
  }
  return errnoTable;
}

/**
 * Builds ExportLogsServiceRequest bytes incrementally: `add` appends the
 * records of a batch under their containers' resources and seals a request
 * whenever the next record would break `limits`; `seal` returns the open
 * request and starts a new one. Holds one open request at a time.
 *
 * A batch's records are sorted by resource (a counting sort over its
 * records' groups) so that each group's records are encoded by one native
 * call, straight from the kernel bytes.
 */
export class LogsRequestEncoder {
  private readonly resources: ResourceCache<Buffer>;
  private readonly native = nativeLogRecordEncoder(errnoNames());
  private groups = new Map<Buffer, ResourceGroup>();
  private readonly pool: ProtoBuffer[] = [];
  private pooledBytes = 0;
  /** Scratch for the few framing bytes of each group at `seal`. */
  private readonly head = new ProtoBuffer(32);
  /** [boot → Unix offset ns, observed time ns], as the native encoder reads them. */
  private readonly clock = new BigInt64Array(2);
  /** [next order index, new position, bytes needed], written by the native encoder. */
  private readonly result = new Float64Array(3);
  /** Per-batch scratch: each record's group slot, and record indices sorted by slot. */
  private slots = new Uint32Array(0);
  private order = new Uint32Array(0);
  /** Records and (framed) bytes in the open request. */
  records = 0;
  bytes = 0;

  constructor(
    host: HostInfo,
    resourceOverrides: Readonly<Record<string, string>>,
    private readonly limits: RequestLimits,
    /** Supplies each request's buffer (at least `size` bytes), so the caller can recycle them. */
    private readonly alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
    /** Which pod labels and annotations resources carry (none without). */
    podMetadata?: PodMetadataPolicy,
  ) {
    this.resources = new ResourceCache(host, resourceOverrides, resourceField, podMetadata);
  }

  /**
   * Appends records `[start, end)` of `batch`, observed now by the batch's own
   * clock; each request filled on the way goes to `sealed`.
   */
  add(batch: EventBatch, start: number, end: number, sealed: (request: EncodedRequest) => void): void {
    const count = end - start;
    if (count <= 0) return;
    // Offset and now read together: a record stamped before now is never timed after it.
    this.clock[0] = batch.clock.bootToEpochNs;
    this.clock[1] = batch.clock.nowEpochNs();
    if (this.slots.length < count) {
      this.slots = new Uint32Array(count);
      this.order = new Uint32Array(count);
    }
    const slots = this.slots;
    const resources: Buffer[] = [];
    const slotOf = new Map<Buffer, number>();
    let lastInfo: ContainerInfo | null | undefined;
    let lastSlot = 0;
    // Each record's group slot; consecutive records often share a container.
    for (let k = 0; k < count; k++) {
      const info = batch.containers?.[start + k] ?? null;
      if (info !== lastInfo) {
        const resource = this.resources.get(info);
        let slot = slotOf.get(resource);
        if (slot === undefined) {
          slot = resources.length;
          resources.push(resource);
          slotOf.set(resource, slot);
        }
        lastInfo = info;
        lastSlot = slot;
      }
      slots[k] = lastSlot;
    }
    // Counting sort: `segments[s]` is where slot s's records start in `order`.
    const segments = new Uint32Array(resources.length + 1);
    for (let k = 0; k < count; k++) segments[slots[k] + 1]++;
    for (let s = 1; s <= resources.length; s++) segments[s] += segments[s - 1];
    const fill = segments.slice(0, resources.length);
    const order = this.order;
    for (let k = 0; k < count; k++) order[fill[slots[k]]++] = start + k;

    for (let s = 0; s < resources.length; s++) {
      let from = segments[s];
      const to = segments[s + 1];
      while (from < to) {
        if (this.records >= this.limits.maxRecords) sealed(this.seal());
        const group = this.group(resources[s]);
        const out = group.records;
        const upTo = Math.min(to, from + this.limits.maxRecords - this.records);
        const r = this.result;
        this.native.encode(this.native.encoder, batch.buffer, batch.offsets, order, from, upTo, out.buf, out.pos, this.limits.maxBytes - this.bytes, this.records === 0, this.clock, r);
        const next = r[0];
        this.records += next - from;
        this.bytes += r[1] - out.pos;
        out.pos = r[1];
        from = next;
        if (from === upTo) continue;
        if (r[2] > 0) out.ensure(r[2]);
        else sealed(this.seal());
      }
    }
  }

  /** The open request's group for `resource`, created (and its framing counted) on first use. */
  private group(resource: Buffer): ResourceGroup {
    let group = this.groups.get(resource);
    if (!group) {
      const pooled = this.pool.pop();
      if (pooled) this.pooledBytes -= pooled.buf.length;
      group = { resource, records: pooled ?? new ProtoBuffer() };
      this.groups.set(resource, group);
      this.bytes += resource.length + GROUP_FRAMING;
    }
    return group;
  }

  seal(): EncodedRequest {
    const sizes: Array<{ scopeLogs: number; resourceLogs: number }> = [];
    let total = 0;
    for (const g of this.groups.values()) {
      const scopeLogs = SCOPE_FIELD.length + g.records.pos;
      const resourceLogs = g.resource.length + 1 + varintSize(scopeLogs) + scopeLogs;
      sizes.push({ scopeLogs, resourceLogs });
      if (g.records.pos > 0) total += 1 + varintSize(resourceLogs) + resourceLogs;
    }
    const backing = this.alloc(total);
    // `backing` may be a view of a resizable ArrayBuffer: only native copies
    // touch it (JIT-compiled byte writers slow down several-fold once they
    // have seen such a view). Framing goes through `head` first.
    const head = this.head;
    let pos = 0;
    let k = 0;
    for (const g of this.groups.values()) {
      const { scopeLogs, resourceLogs } = sizes[k++];
      // A group whose first record went to the next request instead.
      if (g.records.pos > 0) {
        head.pos = 0;
        head.varint(T_RESOURCE_LOGS);
        head.varint(resourceLogs);
        pos += head.buf.copy(backing, pos, 0, head.pos);
        pos += g.resource.copy(backing, pos);
        head.pos = 0;
        head.varint(T_SCOPE_LOGS);
        head.varint(scopeLogs);
        pos += head.buf.copy(backing, pos, 0, head.pos);
        pos += SCOPE_FIELD.copy(backing, pos);
        pos += g.records.buf.copy(backing, pos, 0, g.records.pos);
        g.records.pos = 0;
      }
      if (this.pool.length < MAX_POOLED_BUFFERS && this.pooledBytes + g.records.buf.length <= MAX_POOLED_BYTES) {
        this.pool.push(g.records);
        this.pooledBytes += g.records.buf.length;
      }
    }
    const request = { payload: backing.subarray(0, pos), records: this.records, backing };
    this.groups = new Map();
    this.records = 0;
    this.bytes = 0;
    return request;
  }
}
