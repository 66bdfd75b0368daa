/** What the CLI uses from the native addon, when it is built. Filled in as the addon lands. */
export interface NativeFeatures {
  bootTimeNs?: () => bigint;
  probePrograms?: () => Array<{ program: string; event: string; loaded: boolean; reason: string }>;
  error?: string;
}

export function nativeFeatures(): NativeFeatures {
  return { error: 'native addon not built yet' };
}
