import { isUtf8 } from 'node:buffer';
import { type ContainerInfo, EVENT_TYPE_NAMES, type EventBatch, type EventTypeName } from '../../events';
import type { HostInfo } from '../../pipeline/component';
import {
  ATTRIBUTE_KEYS,
  EVENT_NAMES,
  type LogRecordWriter,
  type ResourceAttribute,
  ResourceCache,
  SCOPE,
  Severity,
  type SeverityLevel,
  writeLogRecord,
} from '../log-mapping';
import { ProtoBuffer, WireType, int64Size, lenField, stringField, tag, utf8Length, varintSize } from './proto-buffer';

/*
 * Field numbers from opentelemetry/proto (collector/logs/v1, logs/v1,
 * common/v1, resource/v1). The test decodes our bytes with the generated
 * definitions shipped by @opentelemetry/otlp-transformer.
 */
const F = {
  request: { resourceLogs: 1 },
  resourceLogs: { resource: 1, scopeLogs: 2 },
  resource: { attributes: 1 },
  scopeLogs: { scope: 1, logRecords: 2 },
  scope: { name: 1, version: 2 },
  logRecord: { timeUnixNano: 1, severityNumber: 2, severityText: 3, body: 5, attributes: 6, observedTimeUnixNano: 11, eventName: 12 },
  keyValue: { key: 1, value: 2 },
  anyValue: { string: 1, bool: 2, int: 3, array: 5 },
  arrayValue: { values: 1 },
} as const;

const T_STRING = tag(F.anyValue.string, WireType.len);
const T_BOOL = tag(F.anyValue.bool, WireType.varint);
const T_INT = tag(F.anyValue.int, WireType.varint);
const T_KV_VALUE = tag(F.keyValue.value, WireType.len);
const T_ATTRIBUTE = tag(F.logRecord.attributes, WireType.len);
const T_BODY = tag(F.logRecord.body, WireType.len);
const T_TIME = tag(F.logRecord.timeUnixNano, WireType.fixed64);
const T_OBSERVED = tag(F.logRecord.observedTimeUnixNano, WireType.fixed64);
const T_SEVERITY = tag(F.logRecord.severityNumber, WireType.varint);
const T_LOG_RECORD = tag(F.scopeLogs.logRecords, WireType.len);
const T_SCOPE_LOGS = tag(F.resourceLogs.scopeLogs, WireType.len);
const T_RESOURCE_LOGS = tag(F.request.resourceLogs, WireType.len);

/** `KeyValue.key` field (tag, length, bytes) per attribute key index. */
const KEY_FIELDS = ATTRIBUTE_KEYS.map((k) => stringField(F.keyValue.key, k));
/**
 * Everything of an int attribute before its varint, per key and varint size
 * (1–10 bytes): the attribute tag, KeyValue length, key, value tag, AnyValue
 * length and the int tag. One copy instead of a dozen small writes.
 */
const INT_HEADS = KEY_FIELDS.map((keyField) =>
  Array.from({ length: 11 }, (_v, size) => {
    const anyLen = 1 + size;
    const kvLen = keyField.length + 1 + varintSize(anyLen) + anyLen;
    return Buffer.concat([Buffer.from([T_ATTRIBUTE]), varintBytes(kvLen), keyField, Buffer.from([T_KV_VALUE]), varintBytes(anyLen), Buffer.from([T_INT])]);
  }),
);

function varintBytes(v: number): Buffer {
  const out = new ProtoBuffer(10);
  out.varint(v);
  return out.buf.subarray(0, out.pos);
}
const SEVERITY_INFO_TEXT = stringField(F.logRecord.severityText, Severity.info.text);
const SEVERITY_WARN_TEXT = stringField(F.logRecord.severityText, Severity.warn.text);
const EVENT_NAME_FIELDS = Object.fromEntries(EVENT_TYPE_NAMES.map((t) => [t, stringField(F.logRecord.eventName, EVENT_NAMES[t])])) as Record<EventTypeName, Buffer>;
const BODY_PREFIXES = Object.fromEntries(EVENT_TYPE_NAMES.map((t) => [t, Buffer.from(`${t} `)])) as Record<EventTypeName, Buffer>;
/** `ScopeLogs.scope`, identical in every request. */
export const SCOPE_FIELD = lenField(F.scopeLogs.scope, Buffer.concat([stringField(F.scope.name, SCOPE.name), stringField(F.scope.version, SCOPE.version)]));
const MAX_CACHED_STRINGS_PER_KEY = 256;
const MAX_CACHED_STRING_BYTES = 64;
/** A LogRecord's length prefix is reserved before it is written: records are 128 B – 16 KiB, two bytes. */
const RECORD_LEN_RESERVE = 2;

/** A DataView over the last source buffer scanned: one per batch, not one per string. */
let scanSource: Buffer | undefined;
let scanView: DataView | undefined;

/** True when `src[start, end)` is all ASCII; reads four bytes at a time. */
function isAscii(src: Buffer, start: number, end: number): boolean {
  if (src !== scanSource) {
    scanSource = src;
    scanView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }
  const view = scanView!;
  let acc = 0;
  let p = start;
  for (; p + 4 <= end; p += 4) acc |= view.getUint32(p, true);
  for (; p < end; p++) acc |= src[p];
  return (acc & 0x80808080) === 0;
}

/**
 * Copies kernel string bytes (optionally NUL → space) and reports whether
 * they were valid UTF-8, as protobuf strings must be. Kernel strings are
 * usually ASCII, checked in JS; only other strings go to the native validator.
 */
function copyUtf8(o: ProtoBuffer, src: Buffer, start: number, end: number, nulAsSpace: boolean): boolean {
  const valueStart = o.pos;
  o.copyFrom(src, start, end);
  if (nulAsSpace) {
    const b = o.buf;
    for (let p = valueStart; p < o.pos; p++) if (b[p] === 0) b[p] = 0x20;
  }
  return isAscii(src, start, end) || isUtf8(o.buf.subarray(valueStart, o.pos));
}

function anyValueBytes(value: string | string[]): Buffer {
  if (typeof value === 'string') return stringField(F.anyValue.string, value);
  const values = Buffer.concat(value.map((v) => lenField(F.arrayValue.values, stringField(F.anyValue.string, v))));
  return lenField(F.anyValue.array, values);
}

/** `ResourceLogs.resource` field, encoded once per container. */
function resourceField(attrs: ResourceAttribute[]): Buffer {
  const kvs = attrs.map((a) => lenField(F.resource.attributes, Buffer.concat([stringField(F.keyValue.key, a.key), lenField(F.keyValue.value, anyValueBytes(a.value))])));
  return lenField(F.resourceLogs.resource, Buffer.concat(kvs));
}

/**
 * Room: `LogsRequestEncoder.add` ensures the record's upper bound (`recordBound`)
 * before the mapping runs, so the hot paths below write without checks; only
 * the invalid-UTF-8 fallbacks, whose replacement text can grow, ensure more.
 *
 * Streams LogRecord messages (each as a `ScopeLogs.log_records` field) into
 * `out`, straight from the batch: no intermediate objects, kernel strings
 * copied as bytes.
 */
class ProtoRecordWriter implements LogRecordWriter {
  out!: ProtoBuffer;
  private observed = Buffer.alloc(9);
  private mark = 0;
  private bodyPrefix: Buffer = BODY_PREFIXES.exec;
  /** Whole encoded attributes of recent JS-string values, per key; bounded by the constants below. */
  private readonly encodedStrings = ATTRIBUTE_KEYS.map(() => new Map<string, Buffer>());

  constructor() {
    this.setObserved(BigInt(Date.now()) * 1_000_000n);
  }

  setObserved(unixNs: bigint): void {
    this.observed[0] = T_OBSERVED;
    this.observed.writeBigUInt64LE(unixNs, 1);
  }

  begin(timeUnixNs: bigint, severity: SeverityLevel, type: EventTypeName): void {
    const o = this.out;
    o.varint(T_LOG_RECORD);
    this.mark = o.beginLen(RECORD_LEN_RESERVE);
    o.buf[o.pos++] = T_TIME;
    o.fixed64(timeUnixNs);
    o.buf[o.pos++] = T_SEVERITY;
    o.varint(severity.number);
    o.bytes(severity === Severity.info ? SEVERITY_INFO_TEXT : SEVERITY_WARN_TEXT);
    o.bytes(this.observed);
    o.bytes(EVENT_NAME_FIELDS[type]);
    this.bodyPrefix = BODY_PREFIXES[type];
  }

  bodyUtf8(buf: Buffer, start: number, end: number): void {
    const o = this.out;
    const rewind = o.pos;
    this.bodyHead(end - start);
    if (!copyUtf8(o, buf, start, end, false)) {
      o.pos = rewind;
      o.ensure(3 * (end - start) + 32);
      this.bodyText(buf.toString('utf8', start, end));
    }
  }

  bodyText(detail: string): void {
    const len = utf8Length(detail);
    this.bodyHead(len);
    this.out.string(detail, len);
  }

  str(key: number, value: string): void {
    const o = this.out;
    const cache = this.encodedStrings[key];
    const cached = cache.get(value);
    if (cached !== undefined) {
      o.bytes(cached);
      return;
    }
    const start = o.pos;
    const len = utf8Length(value);
    this.attrHead(key, 1 + varintSize(len) + len);
    o.buf[o.pos++] = T_STRING;
    o.varint(len);
    o.string(value, len);
    // Small value sets (event names, uids, transports, errno names) repeat: keep their encoding.
    if (cache.size < MAX_CACHED_STRINGS_PER_KEY && len <= MAX_CACHED_STRING_BYTES) cache.set(value, Buffer.from(o.buf.subarray(start, o.pos)));
  }

  utf8(key: number, buf: Buffer, start: number, end: number, nulAsSpace: boolean): void {
    const o = this.out;
    const rewind = o.pos;
    const len = end - start;
    this.attrHead(key, 1 + varintSize(len) + len);
    o.buf[o.pos++] = T_STRING;
    o.varint(len);
    if (!copyUtf8(o, buf, start, end, nulAsSpace)) {
      o.pos = rewind;
      o.ensure(3 * (end - start) + 64);
      const text = buf.toString('utf8', start, end);
      this.str(key, nulAsSpace ? text.replaceAll('\0', ' ') : text);
    }
  }

  int(key: number, value: number): void {
    const o = this.out;
    o.bytes(INT_HEADS[key][int64Size(value)]);
    o.int64(value);
  }

  bool(key: number, value: boolean): void {
    this.attrHead(key, 2);
    const o = this.out;
    o.buf[o.pos++] = T_BOOL;
    o.buf[o.pos++] = value ? 1 : 0;
  }

  end(): void {
    this.out.endLen(this.mark, RECORD_LEN_RESERVE);
  }

  /** Body field up to the string bytes: tag, lengths and the `<type> ` prefix, for `detailLen` more bytes. */
  private bodyHead(detailLen: number): void {
    const prefix = this.bodyPrefix;
    const strLen = prefix.length + detailLen;
    const anyLen = 1 + varintSize(strLen) + strLen;
    const o = this.out;
    o.buf[o.pos++] = T_BODY;
    o.varint(anyLen);
    o.buf[o.pos++] = T_STRING;
    o.varint(strLen);
    o.copyFrom(prefix, 0, prefix.length);
  }

  /** Writes the attribute's field tag, lengths and key, for an AnyValue of `anyLen` bytes. */
  private attrHead(key: number, anyLen: number): void {
    const keyField = KEY_FIELDS[key];
    const kvLen = keyField.length + 1 + varintSize(anyLen) + anyLen;
    const o = this.out;
    // The hot path of the encoder: a local cursor, one-byte lengths inline.
    const b = o.buf;
    let p = o.pos;
    b[p++] = T_ATTRIBUTE;
    if (kvLen < 128) b[p++] = kvLen;
    else {
      o.pos = p;
      o.varint(kvLen);
      p = o.pos;
    }
    for (let k = 0; k < keyField.length; k++) b[p++] = keyField[k];
    b[p++] = T_KV_VALUE;
    if (anyLen < 128) b[p++] = anyLen;
    else {
      o.pos = p;
      o.varint(anyLen);
      p = o.pos;
    }
    o.pos = p;
  }
}

/** Records of one resource in the open request. */
interface ResourceGroup {
  resource: Buffer;
  records: ProtoBuffer;
}

/**
 * Most bytes one encoded LogRecord can take: kernel strings appear at most
 * twice (body and one attribute; exec's argv once), each bounded by the
 * record; keys, fixed fields and short JS-made strings fit in the constant.
 */
function recordBound(batch: EventBatch, i: number): number {
  return 2 * batch.recordSize(i) + 1536;
}

export interface EncodedRequest {
  /** A serialized ExportLogsServiceRequest. */
  payload: Buffer;
  records: number;
  /** The buffer `payload` lives in, to hand back to the allocator once the request is done. */
  backing: Buffer;
}

const MAX_POOLED_BUFFERS = 64;
const MAX_POOLED_BUFFER_BYTES = 1024 * 1024;
/** Bytes a group adds around its records: the resource plus ScopeLogs / ResourceLogs framing. */
const GROUP_FRAMING = SCOPE_FIELD.length + 16;

/**
 * Builds ExportLogsServiceRequest bytes incrementally: `add` appends
 * records of a batch under their container's resource; `seal` returns the
 * request and starts a new one. Holds one open request at a time.
 */
export class LogsRequestEncoder {
  private readonly resources: ResourceCache<Buffer>;
  private readonly writer = new ProtoRecordWriter();
  private groups = new Map<Buffer, ResourceGroup>();
  private readonly pool: ProtoBuffer[] = [];
  /** Scratch for the few framing bytes of each group at `seal`. */
  private readonly head = new ProtoBuffer(32);
  /** Consecutive records often share a container: skip the lookups then. */
  private lastInfo: ContainerInfo | null | undefined;
  private lastGroup: ResourceGroup | undefined;
  /** Records and (framed) bytes in the open request. */
  records = 0;
  bytes = 0;

  constructor(host: HostInfo, resourceOverrides: Readonly<Record<string, string>>) {
    this.resources = new ResourceCache(host, resourceOverrides, resourceField);
  }

  setObserved(unixNs: bigint): void {
    this.writer.setObserved(unixNs);
  }

  /**
   * Appends record `i` under its container's resource, unless the open
   * request already has records and this one could take it past `maxBytes`:
   * then returns false and the caller seals first.
   */
  add(batch: EventBatch, i: number, maxBytes = Infinity): boolean {
    const info: ContainerInfo | null = batch.containers?.[i] ?? null;
    let group: ResourceGroup | undefined;
    if (info === this.lastInfo && this.lastGroup !== undefined) group = this.lastGroup;
    else {
      const resource = this.resources.get(info);
      group = this.groups.get(resource);
      if (!group) {
        if (this.records > 0 && this.bytes + resource.length + GROUP_FRAMING + recordBound(batch, i) > maxBytes) return false;
        group = { resource, records: this.pool.pop() ?? new ProtoBuffer() };
        this.groups.set(resource, group);
        this.bytes += resource.length + GROUP_FRAMING;
      }
      this.lastInfo = info;
      this.lastGroup = group;
    }
    const bound = recordBound(batch, i);
    if (this.records > 0 && this.bytes + bound > maxBytes) return false;
    const out = group.records;
    out.ensure(bound);
    const before = out.pos;
    this.writer.out = out;
    writeLogRecord(batch, i, this.writer);
    this.bytes += out.pos - before;
    this.records++;
    return true;
  }

  /** `alloc` supplies the request buffer (at least `size` bytes), so the caller can recycle them. */
  seal(alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size)): EncodedRequest {
    const sizes: Array<{ scopeLogs: number; resourceLogs: number }> = [];
    let total = 0;
    for (const g of this.groups.values()) {
      const scopeLogs = SCOPE_FIELD.length + g.records.pos;
      const resourceLogs = g.resource.length + 1 + varintSize(scopeLogs) + scopeLogs;
      sizes.push({ scopeLogs, resourceLogs });
      total += 1 + varintSize(resourceLogs) + resourceLogs;
    }
    const backing = alloc(total);
    // `backing` may be a view of a resizable ArrayBuffer: only native copies
    // touch it, as ProtoBuffer's JIT-compiled writers slow down several-fold
    // once they have seen such a view. Framing goes through `head` first.
    const head = this.head;
    let pos = 0;
    let k = 0;
    for (const g of this.groups.values()) {
      const { scopeLogs, resourceLogs } = sizes[k++];
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
      if (this.pool.length < MAX_POOLED_BUFFERS && g.records.buf.length <= MAX_POOLED_BUFFER_BYTES) this.pool.push(g.records);
    }
    const sealed = { payload: backing.subarray(0, pos), records: this.records, backing };
    this.groups = new Map();
    this.lastGroup = undefined;
    this.records = 0;
    this.bytes = 0;
    return sealed;
  }
}
