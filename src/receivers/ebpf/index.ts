import type { ReceiverFactory } from '../../pipeline/component';
import { type EbpfReceiverConfig, createDefaultConfig, validateConfig } from './config';
import { EbpfReceiver } from './receiver';

export type { EbpfBatchConfig, EbpfFiltersConfig, EbpfReceiverConfig } from './config';
export { BPF_PROGRAMS, toSessionOptions } from './config';
export { EbpfReceiver } from './receiver';

export const ebpfReceiverFactory: ReceiverFactory<EbpfReceiverConfig> = {
  kind: 'receiver',
  type: 'ebpf',
  createDefaultConfig,
  validate: validateConfig,
  create: (config, settings, next) => new EbpfReceiver(config, settings, next),
};
