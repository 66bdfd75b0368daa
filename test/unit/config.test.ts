import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { builtinFactories } from '../../src/components';
import { ConfigError, expandEnv, mergeDefaults, parseConfigText } from '../../src/pipeline/config';
import { parseDuration, parseSize } from '../../src/pipeline/units';

const TESTDATA = path.join(__dirname, '..', 'testdata');

interface Case {
  file: string;
  text: string;
  env: Record<string, string>;
  expectOk: boolean;
  errors: string[];
  values: Array<{ key: string; value: unknown }>;
}

/** Each testdata file states its expectation in leading `# expect…:` comments; components' own checks apply too, as in `validate`. */
function loadCases(): Case[] {
  return readdirSync(TESTDATA)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const text = readFileSync(path.join(TESTDATA, file), 'utf8');
      const directives = text.split('\n').filter((l) => l.startsWith('# '));
      const get = (name: string) => directives.filter((l) => l.startsWith(`# ${name}: `)).map((l) => l.slice(name.length + 4));
      const env = Object.fromEntries(get('env').flatMap((l) => l.split(' ').map((kv) => kv.split('=', 2) as [string, string])));
      return {
        file,
        text,
        env,
        expectOk: get('expect').includes('ok'),
        errors: get('expect-error'),
        values: get('expect-value').map((l) => {
          const [key, value] = l.split(' = ');
          return { key, value: JSON.parse(value) };
        }),
      };
    });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function at(obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], obj);
}

describe('config files (test/testdata)', () => {
  const cases = loadCases();

  it('has both valid and invalid cases, each with an expectation', () => {
    expect(cases.filter((c) => c.expectOk).length).toBeGreaterThanOrEqual(3);
    expect(cases.filter((c) => c.errors.length).length).toBeGreaterThanOrEqual(8);
    for (const c of cases) expect(c.expectOk || c.errors.length > 0).toBe(true);
  });

  it.each(cases.map((c) => [c.file, c] as const))('%s', (_file, c) => {
    if (c.expectOk) {
      const config = parseConfigText(c.text, c.file, c.env, builtinFactories);
      for (const { key, value } of c.values) expect(at(config, key)).toEqual(value);
      return;
    }
    let thrown: unknown;
    try {
      parseConfigText(c.text, c.file, c.env, builtinFactories);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const problems = (thrown as ConfigError).problems;
    for (const expected of c.errors) {
      expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${escapeRegExp(expected)}`))]));
    }
  });
});

describe('component checks in file validation', () => {
  function problemsOf(yaml: string): string[] {
    try {
      parseConfigText(yaml, 'agent.yaml', {}, builtinFactories);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    return [];
  }
  const pipeline = 'service: { pipelines: { logs: { receivers: [ebpf], exporters: [file] } } }\n';

  it('skip a section the schema already faulted, so its checks never see ill-typed values', () => {
    expect(problemsOf(`receivers: { ebpf: { ring_buffer_size: true, events: [] } }\nexporters: { file: {} }\n${pipeline}`)).toEqual([
      'receivers.ebpf.ring_buffer_size: true is a boolean, expected integer or string',
    ]);
  });

  it('cover configured components a pipeline does not use, like the Collector', () => {
    expect(problemsOf(`receivers: { ebpf: {} }\nexporters: { file: {}, otlp/spare: { timeout: 0s } }\n${pipeline}`)).toEqual([
      'exporters.otlp/spare.timeout: "0s" must be above 0',
    ]);
  });
});

describe('expandEnv', () => {
  it('substitutes inside longer strings and keeps the rest', () => {
    const problems: string[] = [];
    expect(expandEnv('http://${env:H}:${env:P:-4317}/v1', { H: 'x' }, 'k', problems)).toBe('http://x:4317/v1');
    expect(problems).toEqual([]);
  });

  it('reads a whole reference as a YAML scalar, so numbers and booleans keep their type', () => {
    const problems: string[] = [];
    expect(expandEnv({ a: '${env:N}', b: '${env:B}' }, { N: '42', B: 'true' }, '', problems)).toEqual({ a: 42, b: true });
  });

  it('never lets a value inject structure', () => {
    const problems: string[] = [];
    expect(expandEnv('${env:X}', { X: 'a: 1' }, '', problems)).toBe('a: 1');
    expect(expandEnv('${env:X}', { X: '-' }, '', problems)).toBe('-');
    expect(expandEnv('prefix ${env:X}', { X: '\nb: 2' }, '', problems)).toBe('prefix \nb: 2');
  });

  it('treats an empty variable as unset so the default applies', () => {
    const problems: string[] = [];
    expect(expandEnv('${env:E:-d}', { E: '' }, 'k', problems)).toBe('d');
  });

  it('names the key and the variable when one is missing', () => {
    const problems: string[] = [];
    expandEnv({ x: { y: ['${env:NOPE}'] } }, {}, '', problems);
    expect(problems).toEqual(['x.y[0]: environment variable NOPE is not set (set it, or write ${env:NOPE:-default})']);
  });
});

describe('mergeDefaults', () => {
  it('fills missing keys deeply and lets user lists replace defaults whole', () => {
    const defaults = { a: 1, nested: { b: 2, c: 3 }, list: [1, 2] };
    expect(mergeDefaults(defaults, { nested: { c: 9 }, list: [7] })).toEqual({ a: 1, nested: { b: 2, c: 9 }, list: [7] });
    expect(mergeDefaults(defaults, undefined)).toBe(defaults);
    expect(defaults.nested.c).toBe(3);
  });
});

describe('units', () => {
  it.each([
    ['500ms', 500],
    ['2s', 2000],
    ['1.5m', 90_000],
    ['250us', 0.25],
  ])('duration %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    ['32MiB', 32 * 1024 * 1024],
    ['4096', 4096],
    ['64KiB', 65536],
    ['1GB', 1e9],
  ])('size %s', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it('rejects nonsense with the value in the message', () => {
    expect(() => parseDuration('soon')).toThrow('"soon" is not a duration');
    expect(() => parseSize('big')).toThrow('"big" is not a size');
  });
});
