import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { Factory } from './component';
import { PACKAGE_ROOT } from './paths';

export const CONFIG_DIR = path.join(PACKAGE_ROOT, 'config');
export const DEFAULT_CONFIG_PATH = path.join(CONFIG_DIR, 'default.yaml');
export const SCHEMA_PATH = path.join(CONFIG_DIR, 'schema.json');

export interface PipelineConfig {
  receivers: string[];
  processors: string[];
  exporters: string[];
}

/** The config after expansion and schema validation; component sections still raw. */
export interface AgentConfig {
  receivers: Record<string, unknown>;
  processors: Record<string, unknown>;
  exporters: Record<string, unknown>;
  service: {
    node_name?: string;
    shutdown_timeout?: string;
    log_level?: 'debug' | 'info' | 'warn' | 'error';
    /** The agent's own metrics, /healthz and /readyz (src/pipeline/telemetry-server.ts). */
    telemetry?: { metrics?: { address?: string } };
    pipelines: { logs: PipelineConfig };
  };
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    source: string,
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export type ComponentKind = 'receivers' | 'processors' | 'exporters';
const COMPONENT_KINDS: readonly ComponentKind[] = ['receivers', 'processors', 'exporters'];
/** A component id's type: `ebpf` of `ebpf/fast`, as the Collector names instances. */
export function componentType(id: string): string {
  return id.split('/')[0];
}

const FACTORY_KIND: Record<ComponentKind, Factory['kind']> = { receivers: 'receiver', processors: 'processor', exporters: 'exporter' };

export type ResolvedComponent<F extends Factory = Factory> =
  { factory: F; config: unknown; problems: string[] } | { factory: undefined; config: undefined; problems: string[] };

/**
 * A component's section with its defaults under it, and what its factory's
 * validate() says about it (the cross-field rules the schema cannot state),
 * each message prefixed with `kind.id.`. The Service builds from this and
 * file validation reports from it, so both say the same.
 */
export function resolveComponent<F extends Factory>(
  factories: readonly Factory[],
  kind: ComponentKind,
  id: string,
  section: unknown,
): ResolvedComponent<F> {
  const type = componentType(id);
  const factory = factories.find((f) => f.type === type && f.kind === FACTORY_KIND[kind]) as F | undefined;
  if (!factory)
    return { factory: undefined, config: undefined, problems: [`${kind}.${id}: no ${FACTORY_KIND[kind]} of type "${type}" is built in`] };
  const config = mergeDefaults(factory.createDefaultConfig(), section);
  let problems: string[];
  try {
    problems = ((factory.validate as ((c: unknown) => string[]) | undefined)?.(config) ?? []).map((p) => `${kind}.${id}.${p}`);
  } catch (err) {
    problems = [`${kind}.${id}: ${(err as Error).message}`];
  }
  return { factory, config, problems };
}

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g;

/**
 * Expands `${env:VAR}` and `${env:VAR:-default}` in string values (after YAML
 * parsing, so a value can never inject structure). A value that is one whole
 * reference is re-read as a YAML scalar, so `${env:PORT}` can be a number or
 * a boolean; anything else stays the string it was.
 */
export function expandEnv(value: unknown, env: Env, at: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{env:[^}]+\}$/.test(value);
    const expanded = value.replace(ENV_REF, (_m, name: string, hasDefault: string | undefined, dflt: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (hasDefault !== undefined) return dflt ?? '';
      problems.push(`${at}: environment variable ${name} is not set (set it, or write \${env:${name}:-default})`);
      return '';
    });
    if (!whole || expanded === '') return expanded;
    const scalar: unknown = parseYaml(expanded);
    return typeof scalar === 'number' || typeof scalar === 'boolean' ? scalar : expanded;
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${at}[${i}]`, problems));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, env, at ? `${at}.${k}` : k, problems);
    return out;
  }
  return value;
}

let validator: ReturnType<Ajv['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv['compile']> {
  if (!validator) {
    const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
    validator = ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')));
  }
  return validator;
}

/**
 * Parses, expands and validates a config. With `factories`, every configured
 * component section the schema found no fault in is also checked by its
 * factory, so one report lists schema and component errors together.
 */
export function parseConfigText(text: string, source: string, env: Env = process.env, factories?: readonly Factory[]): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([`not valid YAML: ${(err as Error).message.split('\n')[0]}`], source);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(['the top level must be a mapping with receivers, processors, exporters and service'], source);
  }
  const problems: string[] = [];
  const expanded = expandEnv(raw, env, '', problems) as Record<string, unknown>;
  const validate = schemaValidator();
  const schemaErrors = validate(expanded) ? [] : (validate.errors ?? []);
  problems.push(...dedupe(schemaErrors.map((e) => formatSchemaError(e, expanded))));
  if (factories) problems.push(...componentProblems(expanded, schemaErrors, factories));
  if (problems.length === 0) problems.push(...checkPipelineReferences(expanded as unknown as AgentConfig));
  if (problems.length > 0) throw new ConfigError(problems, source);
  const config = expanded as unknown as AgentConfig;
  config.receivers ??= {};
  config.processors ??= {};
  config.exporters ??= {};
  config.service.pipelines.logs.processors ??= [];
  return config;
}

export function loadConfigFile(file: string, env: Env = process.env, factories?: readonly Factory[]): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError([`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message} (pass --config FILE)`], file);
  }
  return parseConfigText(text, file, env, factories);
}

/** Component checks of the sections the schema accepted; a faulty section's schema errors say enough. */
function componentProblems(config: Record<string, unknown>, schemaErrors: ErrorObject[], factories: readonly Factory[]): string[] {
  const problems: string[] = [];
  for (const kind of COMPONENT_KINDS) {
    const sections = config[kind];
    if (sections === null || typeof sections !== 'object' || Array.isArray(sections)) continue;
    for (const [id, section] of Object.entries(sections)) {
      const at = `/${kind}/${id.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const faulty = schemaErrors.some(
        (e) =>
          e.instancePath === at ||
          e.instancePath.startsWith(`${at}/`) ||
          (e.instancePath === `/${kind}` && (e.params as { additionalProperty?: string }).additionalProperty === id),
      );
      if (faulty) continue;
      const resolved = resolveComponent(factories, kind, id, section);
      // A type without a factory is refused by the schema already.
      if (resolved.factory) problems.push(...resolved.problems);
    }
  }
  return problems;
}

/** Every id a pipeline names must be configured, like the Collector checks. */
function checkPipelineReferences(config: AgentConfig): string[] {
  const problems: string[] = [];
  const logs = config.service.pipelines.logs;
  for (const kind of ['receivers', 'processors', 'exporters'] as const) {
    (logs[kind] ?? []).forEach((id, i) => {
      if (!config[kind] || !(id in config[kind])) {
        const known = Object.keys(config[kind] ?? {});
        problems.push(
          `service.pipelines.logs.${kind}[${i}]: "${id}" is not configured under ${kind} (configured: ${known.length ? known.join(', ') : 'none'})`,
        );
      }
    });
  }
  return problems;
}

function keyPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^[0-9]+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

function valueAt(root: unknown, instancePath: string): unknown {
  let v: unknown = root;
  for (const p of instancePath.split('/').slice(1)) {
    v = (v as Record<string, unknown>)?.[p.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** `exporters.otlp.compression: "zip" is not one of gzip, none` — key path, bad value, what is allowed. */
export function formatSchemaError(e: ErrorObject, root: unknown): string {
  const at = keyPath(e.instancePath);
  const value = valueAt(root, e.instancePath);
  const where = at || '(top level)';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const full = at ? `${at}.${key}` : key;
      return `${full}: unknown key (allowed here: ${allowedKeys(e)})`;
    }
    case 'enum':
      return `${where}: ${show(value)} is not one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'type':
      return `${where}: ${show(value)} is a ${typeName(value)}, expected ${String(p.type).replace(',', ' or ')}`;
    case 'pattern':
      return `${where}: ${show(value)} ${patternHint(String(p.pattern))}`;
    case 'required':
      return `${where}: missing required key "${String(p.missingProperty)}"`;
    case 'minimum':
    case 'maximum':
      return `${where}: ${show(value)} must be ${e.keyword === 'minimum' ? '>=' : '<='} ${String(p.limit)}`;
    case 'minItems':
      return `${where}: must list at least ${String(p.limit)} item(s)`;
    case 'uniqueItems':
      return `${where}: items must be unique (${show(value)})`;
    default:
      return `${where}: ${show(value)} ${e.message ?? 'is invalid'}`;
  }
}

function allowedKeys(e: ErrorObject): string {
  const schema = e.parentSchema as { properties?: Record<string, unknown>; patternProperties?: Record<string, unknown> } | undefined;
  const keys = Object.keys(schema?.properties ?? {});
  const patterns = Object.keys(schema?.patternProperties ?? {}).map(
    (p) => p.replace(/^\^/, '').replace(/\(.*$/, '').replace(/\$$/, '') + '[/name]',
  );
  return [...keys, ...patterns].join(', ') || 'none';
}

function patternHint(pattern: string): string {
  if (pattern.includes('ns|us|ms')) return 'is not a duration (use e.g. 500ms, 2s, 1m)';
  if (pattern.includes('KiB')) return 'is not a size (use bytes or e.g. 64KiB, 32MiB)';
  if (pattern.includes('[0-9]{1,5}')) return 'is not host:port (e.g. 0.0.0.0:9464)';
  if (pattern.includes('[a-z_]+(/')) return 'is not a component id (type or type/name)';
  return `does not match ${pattern}`;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'mapping';
  return typeof v;
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

/** Defaults under user values; arrays and scalars from the user replace the default whole. */
export function mergeDefaults<T>(defaults: T, user: unknown): T {
  if (user === undefined || user === null) return defaults;
  if (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults) || typeof user !== 'object' || Array.isArray(user)) {
    return user as T;
  }
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(user as Record<string, unknown>)) {
    out[k] = mergeDefaults((defaults as Record<string, unknown>)[k], v);
  }
  return out as T;
}
