import type { ContainerInfo, EventBatch, EventTypeName } from '../../events';
import type { HostInfo } from '../../pipeline/component';
import {
  ATTRIBUTE_KEYS,
  EVENT_NAMES,
  type LogRecordWriter,
  type PodMetadataPolicy,
  type ResourceAttribute,
  ResourceCache,
  SCOPE,
  type SeverityLevel,
  writeLogRecord,
} from '../log-mapping';

const KEY_PREFIX = ATTRIBUTE_KEYS.map((k) => `{"key":${JSON.stringify(k)},"value":`);
const SCOPE_JSON = `{"name":${JSON.stringify(SCOPE.name)},"version":${JSON.stringify(SCOPE.version)}}`;

function anyValueJson(value: string | string[] | number): string {
  if (typeof value === 'string') return `{"stringValue":${JSON.stringify(value)}}`;
  if (typeof value === 'number') return `{"intValue":"${Math.max(0, Math.trunc(value))}"}`;
  return `{"arrayValue":{"values":[${value.map((v) => `{"stringValue":${JSON.stringify(v)}}`).join(',')}]}}`;
}

function resourceJson(attrs: ResourceAttribute[]): string {
  return `{"attributes":[${attrs.map((a) => `{"key":${JSON.stringify(a.key)},"value":${anyValueJson(a.value)}}`).join(',')}]}`;
}

/**
 * Writes log records in the OTLP protobuf-JSON mapping: camelCase field
 * names, 64-bit integers as decimal strings, enums as numbers.
 */
class JsonRecordWriter implements LogRecordWriter {
  observedUnixNano = '0';
  records: string[] = [];
  private head = '';
  private bodyPrefix = '';
  private body = '';
  private attrs = '';

  begin(timeUnixNs: bigint, severity: SeverityLevel, type: EventTypeName): void {
    this.head =
      `{"timeUnixNano":"${timeUnixNs}","observedTimeUnixNano":"${this.observedUnixNano}",` +
      `"severityNumber":${severity.number},"severityText":"${severity.text}","eventName":"${EVENT_NAMES[type]}"`;
    this.bodyPrefix = `${type} `;
    this.attrs = '';
  }
  bodyUtf8(buf: Buffer, start: number, end: number): void {
    this.body = JSON.stringify(this.bodyPrefix + buf.toString('utf8', start, end));
  }
  bodyText(detail: string): void {
    this.body = JSON.stringify(this.bodyPrefix + detail);
  }
  str(key: number, value: string): void {
    this.attr(key, `{"stringValue":${JSON.stringify(value)}}`);
  }
  utf8(key: number, buf: Buffer, start: number, end: number): void {
    this.str(key, buf.toString('utf8', start, end));
  }
  utf8List(key: number, buf: Buffer, start: number, end: number): void {
    const values: string[] = [];
    for (let from = start; from <= end;) {
      let to = buf.indexOf(0, from);
      if (to < 0 || to > end) to = end;
      values.push(`{"stringValue":${JSON.stringify(buf.toString('utf8', from, to))}}`);
      from = to + 1;
    }
    this.attr(key, `{"arrayValue":{"values":[${values.join(',')}]}}`);
  }
  int(key: number, value: number): void {
    // Integral doubles above 2^53 print in exponent form; BigInt prints their exact digits.
    this.attr(key, `{"intValue":"${Number.isSafeInteger(value) ? value : BigInt(value)}"}`);
  }
  bool(key: number, value: boolean): void {
    this.attr(key, `{"boolValue":${value}}`);
  }
  end(): void {
    this.records.push(`${this.head},"body":{"stringValue":${this.body}},"attributes":[${this.attrs}]}`);
  }
  private attr(key: number, valueJson: string): void {
    this.attrs += `${this.attrs ? ',' : ''}${KEY_PREFIX[key]}${valueJson}}`;
  }
}

/** Turns whole batches into one ExportLogsServiceRequest JSON document each. */
export class OtlpJsonEncoder {
  private readonly resources: ResourceCache<string>;
  private readonly writer = new JsonRecordWriter();

  constructor(host: HostInfo, resourceOverrides: Readonly<Record<string, string>>, podMetadata?: PodMetadataPolicy) {
    this.resources = new ResourceCache(host, resourceOverrides, resourceJson, podMetadata);
  }

  /**
   * One line (no trailing newline); records grouped under one resource per
   * container. Observed now, by the batch's own clock: never before a record's time.
   */
  encode(batch: EventBatch): string {
    const groups = new Map<string, string[]>();
    const w = this.writer;
    w.observedUnixNano = String(batch.clock.nowEpochNs());
    for (let i = 0; i < batch.length; i++) {
      const info: ContainerInfo | null = batch.containers?.[i] ?? null;
      const resource = this.resources.get(info);
      let records = groups.get(resource);
      if (!records) {
        records = [];
        groups.set(resource, records);
      }
      w.records = records;
      writeLogRecord(batch, i, w);
    }
    const resourceLogs: string[] = [];
    for (const [resource, records] of groups) {
      resourceLogs.push(`{"resource":${resource},"scopeLogs":[{"scope":${SCOPE_JSON},"logRecords":[${records.join(',')}]}]}`);
    }
    return `{"resourceLogs":[${resourceLogs.join(',')}]}`;
  }
}
