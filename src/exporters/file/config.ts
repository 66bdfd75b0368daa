import { parseSize } from '../../pipeline/units';
import { createDefaultPodMetadataConfig, type PodMetadataConfig, validatePodMetadataConfig } from '../log-mapping/pod-metadata';

export interface FileExporterConfig {
  /** File to append OTLP-JSON lines to; `-` is stdout. */
  path: string;
  /** Bytes written but not yet flushed by the OS before batches are dropped (reason queue_full). */
  max_queue_bytes: string | number;
  /** Added to (or replacing) the computed resource attributes of every record. */
  resource_attributes: Record<string, string>;
  /** Pod labels and annotations sent as `k8s.pod.label.<key>` / `k8s.pod.annotation.<key>` (allow-lists, bounds). */
  pod_metadata: PodMetadataConfig;
}

export function createDefaultConfig(): FileExporterConfig {
  return { path: '-', max_queue_bytes: '16MiB', resource_attributes: {}, pod_metadata: createDefaultPodMetadataConfig() };
}

export function validateConfig(config: FileExporterConfig): string[] {
  const problems: string[] = validatePodMetadataConfig(config.pod_metadata);
  try {
    if (parseSize(config.max_queue_bytes) < 1024)
      problems.push(`max_queue_bytes: ${JSON.stringify(config.max_queue_bytes)} must be at least 1KiB`);
  } catch (err) {
    problems.push(`max_queue_bytes: ${(err as Error).message}`);
  }
  if (config.path.trim() === '') problems.push('path: must not be empty (use - for stdout)');
  return problems;
}
