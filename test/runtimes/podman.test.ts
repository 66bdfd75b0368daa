import { PodmanHarness } from '../harness';
import { engineSuite } from './engine-suite';
import { requires } from '../harness/requires';

requires('root', 'podman', 'runc', 'conmon').describe('Podman runtime client (real podman API service)', () => {
  engineSuite('podman', () => PodmanHarness.start());
});
