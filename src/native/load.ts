import * as path from 'node:path';
import { PACKAGE_ROOT } from '../pipeline/paths';

/** Where node-gyp puts the addon of binding.gyp's target `target`. */
export function addonPath(target: string): string {
  return path.join(PACKAGE_ROOT, 'build', 'Release', `${target}.node`);
}

/**
 * One of binding.gyp's addons, loaded on first use and kept. Each owner loads
 * its own, so a part that is never used is never loaded (the OTLP encoder
 * runs where the BPF addon's libbpf is absent).
 */
export class LazyAddon<T> {
  readonly path: string;
  private addon: T | undefined;

  /** `needs`: what loading it takes besides Node, for the error ('' when nothing). */
  constructor(
    target: string,
    private readonly needs: string,
  ) {
    this.path = addonPath(target);
  }

  /** Throws an actionable error when the addon is missing or broken. */
  load(): T {
    if (this.addon) return this.addon;
    try {
      // A .node file loads through require() only.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      this.addon = require(this.path) as T;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'MODULE_NOT_FOUND') {
        throw new Error(`native addon not built: run npm run build:addon (${this.path} is missing)`);
      }
      const needs = this.needs ? `; it needs ${this.needs}` : '';
      throw new Error(`native addon ${this.path} failed to load: ${e.message} (rebuild it: npm run build:addon${needs})`);
    }
    return this.addon;
  }

  /** Why it cannot be loaded, or undefined when it can; for callers that report instead of throwing. */
  error(): string | undefined {
    try {
      this.load();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }
}
