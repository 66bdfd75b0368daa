import { Counter, type Registry } from 'prom-client';
import type { KubernetesInfo } from '../../events';
import { METRIC_PREFIX, oncePerRegistry } from '../../pipeline/telemetry';

/**
 * Which of a pod's labels and annotations become resource attributes (`k8s.pod.label.<key>`,
 * `k8s.pod.annotation.<key>`), and how many and how long: the `pod_metadata` key of the OTLP and
 * file exporters. Patterns are label keys where `*` stands for any run of characters.
 */
export interface PodMetadataConfig {
  /** Pod label keys sent as `k8s.pod.label.<key>`; `[]` sends none. */
  labels: string[];
  /** Pod annotation keys sent as `k8s.pod.annotation.<key>`; none unless listed (annotations can be large). */
  annotations: string[];
  /** Attributes from labels and annotations together per resource; more are left out, counted. */
  max_attributes: number;
  /** Bytes of one value (UTF-8); a longer one is cut on a character boundary, counted. */
  max_value_length: number;
}

/** Labels most workloads carry that name the application, and nothing of a pod's own (hashes, uids). */
export const DEFAULT_POD_LABELS: readonly string[] = ['app', 'app.kubernetes.io/*', 'k8s-app', 'version', 'component', 'tier'];

export function createDefaultPodMetadataConfig(): PodMetadataConfig {
  return { labels: [...DEFAULT_POD_LABELS], annotations: [], max_attributes: 32, max_value_length: 256 };
}

export function validatePodMetadataConfig(config: PodMetadataConfig, at = 'pod_metadata'): string[] {
  const problems: string[] = [];
  for (const [list, patterns] of [
    ['labels', config.labels],
    ['annotations', config.annotations],
  ] as const) {
    patterns.forEach((p, k) => {
      if (p.trim() === '') problems.push(`${at}.${list}[${k}]: must not be empty (a label key, or a pattern with *)`);
    });
  }
  return problems;
}

/** The longest key Kubernetes allows (a 253-character DNS prefix, `/`, a 63-character name); a longer one is no label's, left out. */
export const MAX_KEY_BYTES = 317;

export type PodMetadataKind = 'label' | 'annotation';
export type PodMetadataCut = 'count' | 'length';

/** Told how many of a pod's labels or annotations a resource left out (`count`) or cut (`length`). */
export type CutListener = (kind: PodMetadataKind, reason: PodMetadataCut, n: number) => void;

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${body}$`, 's');
}

/** `s` cut to at most `max` UTF-8 bytes without splitting a character. */
export function cutUtf8(s: string, max: number): string {
  if (s.length * 3 <= max || Buffer.byteLength(s) <= max) return s;
  const buf = Buffer.from(s);
  let end = max;
  // Back up over continuation bytes (10xxxxxx) to the start of the character cut through.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.toString('utf8', 0, end);
}

/**
 * The allow-lists of one exporter, compiled. `attributes(k8s)` gives the pod's labels, then its
 * annotations, each in key order, that the lists allow, at most `max_attributes` of them, each value
 * at most `max_value_length` bytes; what it leaves out or cuts is reported to `onCut`.
 */
export class PodMetadataPolicy {
  private readonly labels: RegExp[];
  private readonly annotations: RegExp[];

  constructor(
    private readonly config: PodMetadataConfig,
    private readonly onCut: CutListener = () => undefined,
  ) {
    this.labels = config.labels.map(globToRegExp);
    this.annotations = config.annotations.map(globToRegExp);
  }

  attributes(k8s: KubernetesInfo): { key: string; value: string }[] {
    const out: { key: string; value: string }[] = [];
    this.add(out, 'label', 'k8s.pod.label.', k8s.podLabels, this.labels);
    this.add(out, 'annotation', 'k8s.pod.annotation.', k8s.podAnnotations, this.annotations);
    return out;
  }

  private add(
    out: { key: string; value: string }[],
    kind: PodMetadataKind,
    prefix: string,
    entries: Record<string, string> | undefined,
    patterns: RegExp[],
  ): void {
    if (patterns.length === 0 || !entries) return;
    let overCount = 0;
    let cut = 0;
    for (const key of Object.keys(entries).sort()) {
      if (!patterns.some((p) => p.test(key))) continue;
      if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
        cut++;
        continue;
      }
      if (out.length >= this.config.max_attributes) {
        overCount++;
        continue;
      }
      const raw = String(entries[key]);
      const value = cutUtf8(raw, this.config.max_value_length);
      if (value.length !== raw.length) cut++;
      out.push({ key: prefix + key, value });
    }
    if (overCount > 0) this.onCut(kind, 'count', overCount);
    if (cut > 0) this.onCut(kind, 'length', cut);
  }
}

/** `ebpf_container_otel_exporter_pod_metadata_cut_total`, one per registry, shared by the exporters in it. */
export const podMetadataCutCounter = oncePerRegistry(
  (registry) =>
    new Counter({
      name: `${METRIC_PREFIX}exporter_pod_metadata_cut_total`,
      help: 'Pod labels (kind="label") and annotations (kind="annotation") an exporter allowed but left out of a container\'s resource because pod_metadata.max_attributes was reached (reason="count"), or cut to pod_metadata.max_value_length bytes or left out for a key longer than any Kubernetes allows (reason="length"); counted each time a container\'s resource is built.',
      labelNames: ['component', 'kind', 'reason'] as const,
      registers: [registry],
    }),
);

/** A policy counting into the shared counter under `component` (the exporter's id). */
export function countedPodMetadataPolicy(config: PodMetadataConfig, registry: Registry, exporter: string): PodMetadataPolicy {
  const counter = podMetadataCutCounter(registry);
  return new PodMetadataPolicy(config, (kind, reason, n) => counter.inc({ component: exporter, kind, reason }, n));
}
