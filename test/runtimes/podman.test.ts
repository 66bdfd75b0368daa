import { PodmanHarness, buildTestImage } from '../harness';
import { engineApiTests } from './engine-suite';
import { requires } from '../harness/requires';

requires('root', 'podman', 'runc', 'conmon').describe('Podman runtime client (real podman API service)', () => {
  let h: PodmanHarness;
  const clients: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(c: T): T => (clients.push(c), c);

  beforeAll(async () => {
    buildTestImage();
    h = await PodmanHarness.start();
    h.loadImage();
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await h?.stop();
  }, 60_000);

  engineApiTests('podman', () => h, track);
});
