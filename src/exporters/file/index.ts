import type { ExporterFactory } from '../../pipeline/component';
import { createDefaultConfig, type FileExporterConfig, validateConfig } from './config';
import { FileExporter } from './exporter';

export const fileExporterFactory: ExporterFactory<FileExporterConfig> = {
  kind: 'exporter',
  type: 'file',
  createDefaultConfig,
  validate: validateConfig,
  create: (config, settings) => new FileExporter(config, settings),
};

export { FileExporter } from './exporter';
export type { FileExporterConfig } from './config';
export { OtlpJsonEncoder } from './otlp-json';
