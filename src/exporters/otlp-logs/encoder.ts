import type { ContainerInfo, EventBatch } from '../../events';
import { nativeLogRecordEncoder } from '../../native/otlp-logs';
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
const SCOPE_FIELD = lenField(
  F.scopeLogs.scope,
  Buffer.concat([stringField(F.scope.name, SCOPE.name), stringField(F.scope.version, SCOPE.version)]),
);

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
  const kvs = attrs.map((a) =>
    lenField(
      F.resource.attributes,
      Buffer.concat([stringField(F.keyValue.key, a.key), lenField(F.keyValue.value, anyValueBytes(a.value))]),
    ),
  );
  return lenField(F.resourceLogs.resource, Buffer.concat(kvs));
}

/**
 * Records of one resource in the open request: slabs filled in turn (`full`,
 * each with the bytes used), then the one being filled (`out`).
 */
interface ResourceGroup {
  resource: Buffer;
  full: ProtoBuffer[];
  out: ProtoBuffer;
}

/**
 * A serialized ExportLogsServiceRequest as the pieces it was built from, in
 * order: per resource its framing, its resource (cached per container), the
 * scope and its records' buffer. Sent as they are (the transport writes them
 * one after the other), never assembled into one buffer.
 */
export class EncodedRequest {
  constructor(
    readonly chunks: Buffer[],
    /** Bytes of all chunks. */
    readonly bytes: number,
    readonly records: number,
    /** The slabs the records' chunks live in: back to the encoder (`release`) once the request is done. */
    readonly buffers: ProtoBuffer[],
  ) {}

  /** The request as one Buffer (a copy: for tests and tools; the exporter sends the chunks). */
  get payload(): Buffer {
    return Buffer.concat(this.chunks, this.bytes);
  }
}

export interface RequestLimits {
  /** Records per request. */
  maxRecords: number;
  /** Bytes per request; a single record larger than this still goes, alone. */
  maxBytes: number;
}

/**
 * Records are encoded into slabs of this size (a record bigger than a slab
 * gets one of its own): a request holds its slabs until it is sent, so what
 * a group wastes is bounded by the unused end of its last slab.
 */
const SLAB_BYTES = 64 * 1024;
/** Slabs kept for reuse between requests, at most (16 MiB). */
const MAX_POOLED_SLABS = 256;
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
  /** [boot → Unix offset ns, observed time ns], as the native encoder reads them. */
  private readonly clock = new BigInt64Array(2);
  /** [next order index, new position, bytes needed], written by the native encoder. */
  private readonly result = new Float64Array(3);
  /** Per-batch scratch: each record's group slot, and record indices sorted by slot. */
  private slots = new Uint32Array(0);
  private order = new Uint32Array(0);
  private identityOrder = new Uint32Array(0);
  /** Records and (framed) bytes in the open request. */
  records = 0;
  bytes = 0;

  constructor(
    host: HostInfo,
    resourceOverrides: Readonly<Record<string, string>>,
    private readonly limits: RequestLimits,
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
    if (resources.length === 1) {
      // One resource (the host's, or one container's): the records in their own order, no sort.
      this.encodeRun(batch, resources[0], this.identity(end), start, end, sealed);
      return;
    }
    // Counting sort: `segments[s]` is where slot s's records start in `order`.
    const segments = new Uint32Array(resources.length + 1);
    for (let k = 0; k < count; k++) segments[slots[k] + 1]++;
    for (let s = 1; s <= resources.length; s++) segments[s] += segments[s - 1];
    const fill = segments.slice(0, resources.length);
    const order = this.order;
    for (let k = 0; k < count; k++) order[fill[slots[k]]++] = start + k;
    for (let s = 0; s < resources.length; s++) this.encodeRun(batch, resources[s], order, segments[s], segments[s + 1], sealed);
  }

  /** `indices[i] = i` for i < n (at least): the order of a batch of one resource. */
  private identity(n: number): Uint32Array {
    if (this.identityOrder.length < n) {
      this.identityOrder = new Uint32Array(Math.max(n, 2 * this.identityOrder.length));
      for (let i = 0; i < this.identityOrder.length; i++) this.identityOrder[i] = i;
    }
    return this.identityOrder;
  }

  /** The records `order[from..to)` of `batch` under `resource`, sealing requests as they fill. */
  private encodeRun(
    batch: EventBatch,
    resource: Buffer,
    order: Uint32Array,
    from: number,
    to: number,
    sealed: (request: EncodedRequest) => void,
  ): void {
    while (from < to) {
      if (this.records >= this.limits.maxRecords) sealed(this.seal());
      const group = this.group(resource);
      const out = group.out;
      const upTo = Math.min(to, from + this.limits.maxRecords - this.records);
      const r = this.result;
      this.native.encode(
        this.native.encoder,
        batch.buffer,
        batch.offsets,
        order,
        from,
        upTo,
        out.buf,
        out.pos,
        this.limits.maxBytes - this.bytes,
        this.records === 0,
        this.clock,
        r,
      );
      const next = r[0];
      this.records += next - from;
      this.bytes += r[1] - out.pos;
      out.pos = r[1];
      from = next;
      if (from === upTo) continue;
      if (r[2] > 0) {
        // The slab is full: the next one (a record bigger than a slab gets one of its own).
        if (out.pos > 0) group.full.push(out);
        else this.pooled(out);
        group.out = this.slab(r[2]);
      } else sealed(this.seal());
    }
  }

  /** A slab of at least `need` bytes, from the pool when it is of the usual size. */
  private slab(need = 0): ProtoBuffer {
    if (need > SLAB_BYTES) return new ProtoBuffer(need);
    return this.pool.pop() ?? new ProtoBuffer(SLAB_BYTES);
  }

  /** The open request's group for `resource`, created (and its framing counted) on first use. */
  private group(resource: Buffer): ResourceGroup {
    let group = this.groups.get(resource);
    if (!group) {
      group = { resource, full: [], out: this.slab() };
      this.groups.set(resource, group);
      this.bytes += resource.length + GROUP_FRAMING;
    }
    return group;
  }

  /**
   * The open request, and a new one opened. Its record buffers go with it
   * until `release`; groups that took no record go back to the pool.
   */
  seal(): EncodedRequest {
    const chunks: Buffer[] = [];
    const buffers: ProtoBuffer[] = [];
    // Framing of every group (two tags and two lengths each, at most 12 bytes) in one small buffer.
    const framing = Buffer.allocUnsafe(12 * this.groups.size);
    let at = 0;
    let total = 0;
    for (const g of this.groups.values()) {
      let recordBytes = g.out.pos;
      for (const slab of g.full) recordBytes += slab.pos;
      if (recordBytes === 0) {
        // A group whose first record went to the next request instead.
        this.pooled(g.out);
        continue;
      }
      const scopeLogs = SCOPE_FIELD.length + recordBytes;
      const resourceLogs = g.resource.length + 1 + varintSize(scopeLogs) + scopeLogs;
      const start = at;
      at = writeVarint(framing, at, T_RESOURCE_LOGS);
      at = writeVarint(framing, at, resourceLogs);
      chunks.push(framing.subarray(start, at), g.resource);
      const mid = at;
      at = writeVarint(framing, at, T_SCOPE_LOGS);
      at = writeVarint(framing, at, scopeLogs);
      chunks.push(framing.subarray(mid, at), SCOPE_FIELD);
      for (const slab of g.full) {
        chunks.push(slab.buf.subarray(0, slab.pos));
        buffers.push(slab);
      }
      if (g.out.pos > 0) {
        chunks.push(g.out.buf.subarray(0, g.out.pos));
        buffers.push(g.out);
      } else this.pooled(g.out);
      total += 1 + varintSize(resourceLogs) + resourceLogs;
    }
    const request = new EncodedRequest(chunks, total, this.records, buffers);
    this.groups = new Map();
    this.records = 0;
    this.bytes = 0;
    return request;
  }

  /** A request is done with (sent or given up): its slabs are reused. */
  release(request: EncodedRequest): void {
    for (const b of request.buffers) this.pooled(b);
    request.buffers.length = 0;
  }

  private pooled(slab: ProtoBuffer): void {
    slab.pos = 0;
    if (slab.buf.length === SLAB_BYTES && this.pool.length < MAX_POOLED_SLABS) this.pool.push(slab);
  }
}

function writeVarint(buf: Buffer, at: number, v: number): number {
  while (v >= 128) {
    buf[at++] = (v & 127) | 128;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}
