import type { ExporterFactory } from '../../pipeline/component';
import { createDefaultConfig, type OtlpExporterConfig, validateConfig } from './config';
import { OtlpLogsExporter } from './exporter';

export const otlpLogsExporterFactory: ExporterFactory<OtlpExporterConfig> = {
  kind: 'exporter',
  type: 'otlp',
  createDefaultConfig,
  validate: validateConfig,
  create: (config, settings) => new OtlpLogsExporter(config, settings),
};

export { OtlpLogsExporter } from './exporter';
export type { OtlpExporterConfig } from './config';
export { LogsRequestEncoder } from './encoder';
export type { EncodedRequest } from './encoder';
export { classifyError } from './retry';
