export { TEST_IMAGE, buildTestImage, type TestImage } from './image';
export { ContainerdHarness, type ContainerdOptions } from './containerd';
export { CriPods, type PodSpec, type RunningPod } from './cri';
export { DockerHarness } from './docker';
export { PodmanHarness } from './podman';
export { LxcHarness } from './lxc';
export {
  makeWorkDir,
  destroyWorkDir,
  killProcessesUnder,
  spawnDaemon,
  stopDaemon,
  waitFor,
  GiveUp,
  run,
  runAsync,
  hasProgram,
  type Daemon,
} from './procs';
export { AgentProcess } from './agent';
export { PrometheusServer, promtoolCheckMetrics, freePort, type PromSample } from './prometheus';
export { REPO_ROOT, NODE, CLI } from './paths';
