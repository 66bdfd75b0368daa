import type { ReceiverFactory } from '../../pipeline/component';
import { type SyntheticReceiverConfig, createDefaultConfig } from './config';
import { SyntheticReceiver } from './receiver';

export type { SyntheticReceiverConfig } from './config';

export const syntheticReceiverFactory: ReceiverFactory<SyntheticReceiverConfig> = {
  kind: 'receiver',
  type: 'synthetic',
  createDefaultConfig,
  create: (config, settings, next) => new SyntheticReceiver(config, settings, next),
};
