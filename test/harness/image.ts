import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { run } from './procs';

/** Name every harness daemon knows the test image by (a `localhost/` name needs no registry). */
export const TEST_IMAGE = 'localhost/ebpf-otel-busybox:latest';
const BUSYBOX = '/bin/busybox';

export interface TestImage {
  name: string;
  /** Plain root filesystem tarball (also the single image layer). */
  rootfsTar: string;
  /** docker-save style archive: manifest.json, config JSON, <layer>/layer.tar. */
  archive: string;
  /** Unpacked root filesystem (for LXC and runc bundles). */
  rootfsDir: string;
  /** `sha256:<hex>` of the image config, i.e. Docker's image id. */
  configDigest: string;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * Builds (once per busybox binary, cached under the temp dir and shared between test files and
 * helpers) a one-layer busybox image offline: busybox-static plus a symlink per applet.
 * The default command sleeps, so it also serves as the CRI pause image.
 */
export function buildTestImage(): TestImage {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} not found: install busybox-static (scripts/setup.sh --test)`);
  const busybox = readFileSync(BUSYBOX);
  const dir = path.join(tmpdir(), `eco-image-${sha256(busybox).slice(0, 12)}`);
  const result = (configDigest: string): TestImage => ({
    name: TEST_IMAGE,
    rootfsTar: path.join(dir, 'rootfs.tar'),
    archive: path.join(dir, 'image.tar'),
    rootfsDir: path.join(dir, 'rootfs'),
    configDigest,
  });
  const stamp = path.join(dir, 'config-digest');
  if (existsSync(stamp)) return result(readFileSync(stamp, 'utf8'));

  // Build beside the final place and rename: concurrent builders never see a half-built image.
  const work = `${dir}.${process.pid}.tmp`;
  rmSync(work, { recursive: true, force: true });
  const rootfs = path.join(work, 'rootfs');
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'root', 'run', 'var/run'])
    mkdirSync(path.join(rootfs, d), { recursive: true });
  copyFileSync(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of run(BUSYBOX, ['--list'])
    .split('\n')
    .filter((a) => a && a !== 'busybox')) {
    symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  writeFileSync(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');

  const layerTar = path.join(work, 'rootfs.tar');
  run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', layerTar, '.']);
  const diffId = sha256(readFileSync(layerTar));
  const config = JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sleep', '2147483647'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'ebpf-container-otel test harness' }],
  });
  const configHex = sha256(config);
  const archiveDir = path.join(work, 'archive');
  mkdirSync(path.join(archiveDir, diffId), { recursive: true });
  copyFileSync(layerTar, path.join(archiveDir, diffId, 'layer.tar'));
  writeFileSync(path.join(archiveDir, `${configHex}.json`), config);
  const [repo, tag] = [TEST_IMAGE.slice(0, TEST_IMAGE.lastIndexOf(':')), TEST_IMAGE.slice(TEST_IMAGE.lastIndexOf(':') + 1)];
  writeFileSync(
    path.join(archiveDir, 'manifest.json'),
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [TEST_IMAGE], Layers: [`${diffId}/layer.tar`] }]),
  );
  writeFileSync(path.join(archiveDir, 'repositories'), JSON.stringify({ [repo]: { [tag]: diffId } }));
  run('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    archiveDir,
    '-cf',
    path.join(work, 'image.tar'),
    '.',
  ]);
  rmSync(archiveDir, { recursive: true });
  writeFileSync(path.join(work, 'config-digest'), `sha256:${configHex}`);
  try {
    renameSync(work, dir);
  } catch {
    // Another process finished first; theirs is identical.
    rmSync(work, { recursive: true, force: true });
  }
  return result(readFileSync(stamp, 'utf8'));
}
