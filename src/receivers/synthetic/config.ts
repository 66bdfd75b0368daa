export interface SyntheticReceiverConfig {
  /** Records per second. */
  rate: number;
  batch_size: number;
  /** Stop after this many records; 0 = run until shutdown. */
  count: number;
  /** Mount namespace stamped on the records (0 = this process's). */
  mntns: number;
}

export function createDefaultConfig(): SyntheticReceiverConfig {
  return { rate: 1000, batch_size: 100, count: 0, mntns: 0 };
}
