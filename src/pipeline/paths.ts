import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** The package root, whether running from src/ (ts-jest) or dist/src/ (compiled). */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`package.json not found above ${from}`);
  }
}
