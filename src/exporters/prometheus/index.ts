import type { ExporterFactory } from '../../pipeline/component';
import { createDefaultConfig, type PrometheusExporterConfig, validateConfig } from './config';
import { PrometheusExporter } from './exporter';

export const prometheusExporterFactory: ExporterFactory<PrometheusExporterConfig> = {
  kind: 'exporter',
  type: 'prometheus',
  createDefaultConfig,
  validate: validateConfig,
  create: (config, settings) => new PrometheusExporter(config, settings),
};

export { PrometheusExporter } from './exporter';
export type { PrometheusExporterConfig } from './config';
