import { fileExporterFactory } from './exporters/file';
import type { Factory } from './pipeline/component';
import { syntheticReceiverFactory } from './receivers/synthetic';

/** Every component the agent can build from config, by kind and type. */
export const builtinFactories: readonly Factory[] = [syntheticReceiverFactory, fileExporterFactory];
