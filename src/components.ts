import { fileExporterFactory } from './exporters/file';
import { otlpLogsExporterFactory } from './exporters/otlp-logs';
import { prometheusExporterFactory } from './exporters/prometheus';
import type { Factory } from './pipeline/component';
import { containerEnrichmentProcessorFactory } from './processors/container-enrichment';
import { ebpfReceiverFactory } from './receivers/ebpf';
import { syntheticReceiverFactory } from './receivers/synthetic';

/** Every component the agent can build from config, by kind and type. */
export const builtinFactories: readonly Factory[] = [
  ebpfReceiverFactory,
  syntheticReceiverFactory,
  containerEnrichmentProcessorFactory,
  otlpLogsExporterFactory,
  prometheusExporterFactory,
  fileExporterFactory,
];
