/**
 * The pinned containers map as another tool sees it: bpftool reads and writes
 * it by path, independently of our addon (the acceptance checks use this view).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import * as nodePath from 'node:path';
import type { ContainersMapEntry } from '../../src/native/types';

const FIELD = 256;

function bpftool(args: string[]): string {
  return execFileSync('bpftool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const hexBytes = (b: Buffer): string[] => [...b].map((x) => x.toString(16).padStart(2, '0'));

function cString(value: Buffer, field: number): string {
  const start = field * FIELD;
  const nul = value.indexOf(0, start);
  return value.toString('utf8', start, nul < 0 || nul > start + FIELD ? start + FIELD : nul);
}

/** `bpftool map dump pinned <path> -j`, decoded as the Inspektor Gadget layout. */
export function dumpPinned(path: string): Map<number, ContainersMapEntry> {
  const rows = JSON.parse(bpftool(['map', 'dump', 'pinned', path, '-j'])) as Array<{ key: string[]; value: string[] }>;
  const out = new Map<number, ContainersMapEntry>();
  for (const row of rows) {
    const key = Buffer.from(row.key.map((h) => parseInt(h, 16)));
    const value = Buffer.from(row.value.map((h) => parseInt(h, 16)));
    const mntns = Number(key.readBigUInt64LE(0));
    out.set(mntns, {
      mntns,
      containerId: cString(value, 0),
      namespace: cString(value, 1),
      pod: cString(value, 2),
      container: cString(value, 3),
    });
  }
  return out;
}

/** Creates and pins a map the way another agent would, with bpftool: hash, u64 key, `valueSize`-byte value. */
export function createMapWithBpftool(path: string, valueSize = 4 * FIELD, entries = 64): void {
  mkdirSync(nodePath.dirname(path), { recursive: true });
  bpftool([
    'map',
    'create',
    path,
    'type',
    'hash',
    'key',
    '8',
    'value',
    String(valueSize),
    'entries',
    String(entries),
    'name',
    'containers',
  ]);
}

/** Writes an Inspektor-Gadget-layout entry with bpftool. */
export function updateWithBpftool(path: string, entry: ContainersMapEntry): void {
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(BigInt(entry.mntns));
  const value = Buffer.alloc(4 * FIELD);
  [entry.containerId, entry.namespace, entry.pod, entry.container].forEach((s, i) => value.write(s, i * FIELD, FIELD - 1, 'utf8'));
  bpftool(['map', 'update', 'pinned', path, 'key', 'hex', ...hexBytes(key), 'value', 'hex', ...hexBytes(value)]);
}

export function deleteWithBpftool(path: string, mntns: number): void {
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(BigInt(mntns));
  bpftool(['map', 'delete', 'pinned', path, 'key', 'hex', ...hexBytes(key)]);
}

/** Removes a test's pin directory (unpinning every map in it). */
export function removePins(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
