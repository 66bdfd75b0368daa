import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BootClock } from '../events';
import { builtinFactories } from '../components';
import { type AgentConfig, ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile } from '../pipeline/config';
import { createLogger } from '../pipeline/logger';
import { PACKAGE_ROOT } from '../pipeline/paths';
import { Service } from '../pipeline/service';
import { parseDuration } from '../pipeline/units';
import { runChecks } from '../doctor/checks';
import { detectContainerHierarchy } from '../host/cgroups';
import { cachedKernelNamespaces, resolveHostLayout } from '../host/layout';
import { addonError, brokenOnPurpose, nativeClockSource, probePrograms, probeRingBuffer } from '../native';
import { otlpEncoderAddonError } from '../native/otlp-logs';
import { containersCommand } from './containers';
import { formatChecks } from './doctor';
import { kernelFloorRefusal, pipelineUsesEbpf } from './kernel-floor';
import { execWithAgentFlags } from './v8-flags';

type FlagKind = 'value' | 'switch';

interface CommandSpec {
  synopsis: string;
  what: string;
  flags: Record<string, FlagKind>;
}

/** Each command and the only options it takes; anything else is refused, never ignored. */
const COMMANDS: Record<string, CommandSpec> = {
  run: { synopsis: 'run [--config FILE]', what: 'run the agent (default config: config/default.yaml)', flags: { config: 'value' } },
  validate: {
    synopsis: 'validate --config FILE',
    what: 'check a config file; exit 0 "config OK", exit 2 with the errors',
    flags: { config: 'value' },
  },
  doctor: {
    synopsis: 'doctor [--json]',
    what: 'check privileges, kernel, BTF, bpffs, tracefs, ring buffer, BPF programs, runtime sockets',
    flags: { json: 'switch' },
  },
  containers: {
    synopsis: 'containers [--json] [--config FILE]',
    what: 'list the containers of every reachable runtime',
    flags: { json: 'switch', config: 'value' },
  },
};
/** Options of any command, so `--config FILE` takes its FILE whichever command it came with. */
const FLAG_KINDS: Record<string, FlagKind> = Object.assign({}, ...Object.values(COMMANDS).map((c) => c.flags));

const USAGE = `Usage: ebpf-container-otel <command> [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => (c.synopsis.length < 27 ? `  ${c.synopsis.padEnd(29)}${c.what}` : `  ${c.synopsis}\n${' '.repeat(31)}${c.what}`))
  .join('\n')}

Options:
  -h, --help                   show this help
  -v, --version                show the version
`;

const EXIT_USAGE = 64;
const EXIT_CONFIG = 2;
const STATUS_INTERVAL_MS = 60_000;

interface Parsed {
  command: string | undefined;
  flags: Map<string, string | true>;
  /** Options no command takes, as written (`--confg=x.yaml` → `--confg`). */
  unknown: string[];
  /** Options given a value they do not take. */
  valued: string[];
  extra: string[];
}

function parseArgs(argv: string[]): Parsed {
  const parsed: Parsed = { command: undefined, flags: new Map(), unknown: [], valued: [], extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') parsed.flags.set('help', true);
    else if (a === '-v' || a === '--version') parsed.flags.set('version', true);
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const kind = Object.hasOwn(FLAG_KINDS, name) ? FLAG_KINDS[name] : undefined;
      if (kind === undefined) parsed.unknown.push(`--${name}`);
      else if (kind === 'switch') {
        if (eq >= 0) parsed.valued.push(`--${name}`);
        parsed.flags.set(name, true);
      } else if (eq >= 0) parsed.flags.set(name, a.slice(eq + 1));
      // `--config --json`: the next option is not the FILE.
      else parsed.flags.set(name, argv[i + 1] === undefined || argv[i + 1].startsWith('-') ? '' : argv[++i]);
    } else if (a.startsWith('-') && a !== '-') parsed.unknown.push(a);
    else if (parsed.command === undefined) parsed.command = a;
    else parsed.extra.push(a);
  }
  return parsed;
}

function version(): string {
  return JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}

function usageError(command: string, problem: string): number {
  process.stderr.write(`${command}: ${problem}\nUsage: ebpf-container-otel ${COMMANDS[command].synopsis}\n`);
  return EXIT_USAGE;
}

export async function main(argv: string[]): Promise<number> {
  const { command, flags, unknown, valued, extra } = parseArgs(argv);
  if (flags.has('version')) {
    process.stdout.write(`ebpf-container-otel ${version()}\n`);
    return 0;
  }
  if (flags.has('help') || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === undefined) {
    process.stderr.write(USAGE);
    return EXIT_USAGE;
  }
  const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!spec) {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const refused = [...unknown, ...[...flags.keys()].filter((f) => !Object.hasOwn(spec.flags, f)).map((f) => `--${f}`)];
  if (refused.length > 0) return usageError(command, `unknown option ${refused[0]}`);
  if (valued.length > 0) return usageError(command, `${valued[0]} takes no value`);
  if (extra.length > 0) return usageError(command, `unexpected argument "${extra[0]}"`);
  const configFlag = flags.get('config');
  if (configFlag === '') return usageError(command, '--config needs a FILE');
  const configPath = typeof configFlag === 'string' ? configFlag : undefined;
  switch (command) {
    case 'run': {
      const notApplied = execWithAgentFlags();
      if (notApplied) process.stderr.write(`warning: ${notApplied}\n`);
      return run(configPath ?? DEFAULT_CONFIG_PATH);
    }
    case 'validate':
      if (!configPath) return usageError(command, 'needs --config FILE');
      return validate(configPath);
    case 'doctor':
      return doctor(flags.has('json'));
    case 'containers':
      return containersCommand({ json: flags.has('json'), configPath: configPath ?? DEFAULT_CONFIG_PATH });
    default:
      throw new Error(`command "${command}" is in COMMANDS but has no handler`);
  }
}

function buildService(config: AgentConfig, logLevel?: 'debug' | 'info' | 'warn' | 'error'): Service {
  const logger = createLogger(logLevel ?? config.service.log_level ?? 'info');
  return new Service(config, {
    factories: builtinFactories,
    logger,
    host: { hostname: os.hostname(), nodeName: config.service.node_name ?? process.env.NODE_NAME ?? '' },
    // Only kernel records carry a kernel stamp to match: without an eBPF receiver (or without the addon, as
    // when validating on a build machine) the BPF addon and its libbpf are not even loaded.
    clock: new BootClock(pipelineUsesEbpf(config) && addonError() === undefined ? nativeClockSource : undefined),
  });
}

function validate(configPath: string): number {
  try {
    buildService(loadConfigFile(configPath, process.env, builtinFactories), 'error');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  process.stdout.write('config OK\n');
  return 0;
}

async function run(configPath: string): Promise<number> {
  let service: Service;
  let shutdownMs: number;
  const logger = createLogger('info');
  try {
    const config = loadConfigFile(configPath, process.env, builtinFactories);
    // Below the kernel floor nothing is loaded or started: one line, in doctor's words.
    const tooOld = kernelFloorRefusal(config);
    if (tooOld !== undefined) {
      process.stderr.write(`${tooOld}\n`);
      return 1;
    }
    service = buildService(config);
    shutdownMs = parseDuration(config.service.shutdown_timeout ?? '10s');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return err instanceof ConfigError ? EXIT_CONFIG : 1;
  }
  // Installed before start, which can take seconds (the eBPF receiver loads and attaches its
  // programs): a signal meanwhile must not kill a half-started agent without its shutdown.
  let starting = true;
  let received: NodeJS.Signals | undefined;
  let requestStop: (signal: NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => (requestStop = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (received === undefined) {
      received = signal;
      if (starting) logger.info(`${signal} during start: shutting down once start has finished (send it again to exit at once)`);
      requestStop(signal);
      return;
    }
    logger.error('second signal: exiting without flushing');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  logger.info(`ebpf-container-otel ${version()} starting with ${configPath}: ${service.componentIds().join(', ')}`);
  await service.start();
  starting = false;
  let status: NodeJS.Timeout | undefined;
  if (received === undefined) {
    logger.info('running; Ctrl-C to stop');
    // Also what keeps the process alive: components unref their own timers.
    status = setInterval(() => logger.info(`status ${JSON.stringify(service.telemetry.snapshot())}`), STATUS_INTERVAL_MS);
  }
  const signal = await stopRequested;
  clearInterval(status);
  logger.info(`${signal}: shutting down (deadline ${shutdownMs} ms; send it again to exit at once)`);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), shutdownMs);
  });
  const outcome = await Promise.race([service.shutdown().then(() => 'done' as const), deadline]);
  clearTimeout(timer);
  logger.info(`final ${JSON.stringify(service.telemetry.snapshot())}`);
  if (outcome === 'timeout') {
    logger.error(`shutdown did not finish within ${shutdownMs} ms; exiting`);
    return 1;
  }
  logger.info('stopped');
  // Handles of third-party clients (gRPC channels) must not keep a stopped agent alive.
  setImmediate(() => process.exit(process.exitCode ?? 0)).unref();
  return 0;
}

async function doctor(json: boolean): Promise<number> {
  const error = addonError();
  const native = error === undefined;
  // In a container: the host's /proc, /run and cgroup tree where the agent finds them (/host/...).
  const layout = resolveHostLayout();
  const hierarchy = detectContainerHierarchy(layout.cgroup);
  const results = await runChecks({
    hierarchy,
    layout,
    kernelNamespaces: native ? cachedKernelNamespaces : undefined,
    // The cgroup programs are verified against the hierarchy a run would use.
    probePrograms: native
      ? () => probePrograms({ cgroupSubsysIndex: hierarchy.subsysIndex, cgroupHierarchyId: hierarchy.hierarchyId })
      : undefined,
    probeRingBuffer: native ? () => probeRingBuffer() : undefined,
    brokenOnPurpose: brokenOnPurpose(),
    addonError: error,
    otlpEncoderError: otlpEncoderAddonError,
  });
  process.stdout.write(json ? `${JSON.stringify(results, null, 2)}\n` : `${formatChecks(results)}\n`);
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
