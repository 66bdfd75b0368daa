import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BootClock } from '../events';
import { builtinFactories } from '../components';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile } from '../pipeline/config';
import { createLogger } from '../pipeline/logger';
import { PACKAGE_ROOT } from '../pipeline/paths';
import { Service } from '../pipeline/service';
import { parseDuration } from '../pipeline/units';
import { formatChecks, runChecks } from '../doctor/checks';
import { addonError, bootTimeNs, probePrograms } from '../native';
import { containersCommand } from './containers';

const USAGE = `Usage: ebpf-container-otel <command> [options]

Commands:
  run [--config FILE]          run the agent (default config: config/default.yaml)
  validate --config FILE       check a config file; exit 0 "config OK", exit 2 with the errors
  doctor [--json]              check privileges, kernel, BTF, bpffs, tracefs, BPF programs, runtime sockets
  containers [--json] [--config FILE]
                               list the containers of every reachable runtime

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
}

function parseArgs(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=', 2);
      if (v !== undefined) flags.set(k, v);
      else if (k === 'config') flags.set(k, argv[++i] ?? '');
      else flags.set(k, true);
    } else if (a === '-h') flags.set('help', true);
    else if (a === '-v') flags.set('version', true);
    else if (command === undefined) command = a;
    else throw new UsageError(`unexpected argument "${a}"`);
  }
  return { command, flags };
}

class UsageError extends Error {}

function version(): string {
  return JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'containers') return containersCommand(argv.slice(1));
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { command, flags } = parsed;
  if (flags.has('version')) {
    process.stdout.write(`ebpf-container-otel ${version()}\n`);
    return 0;
  }
  if (flags.has('help') || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const configFlag = flags.get('config');
  if (configFlag === '') {
    process.stderr.write('--config needs a FILE\n');
    return EXIT_USAGE;
  }
  const configPath = typeof configFlag === 'string' ? configFlag : undefined;
  switch (command) {
    case 'run':
      return run(configPath ?? DEFAULT_CONFIG_PATH);
    case 'validate':
      if (!configPath) {
        process.stderr.write('validate needs --config FILE\n');
        return EXIT_USAGE;
      }
      return validate(configPath);
    case 'doctor':
      return doctor(flags.has('json'));
    case undefined:
      process.stderr.write(USAGE);
      return EXIT_USAGE;
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      return EXIT_USAGE;
  }
}

function buildService(configPath: string, logLevel?: 'debug' | 'info' | 'warn' | 'error'): Service {
  const config = loadConfigFile(configPath, process.env, builtinFactories);
  const logger = createLogger(logLevel ?? config.service.log_level ?? 'info');
  return new Service(config, {
    factories: builtinFactories,
    logger,
    host: { hostname: os.hostname(), nodeName: config.service.node_name ?? process.env.NODE_NAME ?? '' },
    // Without the addon (validate on a build machine) the monotonic clock is close enough.
    clock: new BootClock(addonError() === undefined ? bootTimeNs : undefined),
  });
}

function validate(configPath: string): number {
  try {
    buildService(configPath, 'error');
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
    service = buildService(configPath);
    shutdownMs = parseDuration(loadConfigFile(configPath).service.shutdown_timeout ?? '10s');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return err instanceof ConfigError ? EXIT_CONFIG : 1;
  }
  logger.info(`ebpf-container-otel ${version()} starting with ${configPath}: ${service.componentIds().join(', ')}`);
  await service.start();
  logger.info('running; Ctrl-C to stop');
  // Also what keeps the process alive: components unref their own timers.
  const status = setInterval(() => logger.info(`status ${JSON.stringify(service.telemetry.snapshot())}`), STATUS_INTERVAL_MS);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  clearInterval(status);
  logger.info(`${signal}: shutting down (deadline ${shutdownMs} ms; send it again to exit at once)`);
  const again = () => {
    logger.error('second signal: exiting without flushing');
    process.exit(130);
  };
  process.once('SIGINT', again);
  process.once('SIGTERM', again);
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
  const results = await runChecks({ probePrograms: error === undefined ? () => probePrograms() : undefined, addonError: error });
  process.stdout.write(json ? `${JSON.stringify(results, null, 2)}\n` : `${formatChecks(results)}\n`);
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
