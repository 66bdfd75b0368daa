/**
 * Schema, code and docs name the same keys: config/examples/reference.yaml
 * holds every key of config/schema.json at each component's default, and
 * every key the docs show exists. A key added to one and not the others
 * (as exporters.otlp.shutdown_timeout once was: used and documented, refused
 * by the schema) fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { builtinFactories } from '../../src/components';
import { parseConfigText } from '../../src/pipeline/config';

const ROOT = path.join(__dirname, '..', '..');
const REFERENCE = 'config/examples/reference.yaml';
const KINDS = ['receivers', 'processors', 'exporters'] as const;

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  patternProperties?: Record<string, SchemaNode>;
}
const schema = JSON.parse(readFileSync(path.join(ROOT, 'config/schema.json'), 'utf8')) as SchemaNode & {
  definitions: Record<string, SchemaNode>;
};

function deref(node: SchemaNode): SchemaNode {
  return node.$ref ? deref(schema.definitions[node.$ref.replace('#/definitions/', '')]) : node;
}

/** The schema node of each component type (`exporters.otlp`) and of `service`. */
function sections(): Map<string, SchemaNode> {
  const out = new Map<string, SchemaNode>();
  for (const kind of KINDS) {
    for (const [pattern, node] of Object.entries(schema.properties![kind].patternProperties!)) {
      out.set(`${kind}.${/^\^([a-z_]+)\(/.exec(pattern)![1]}`, node);
    }
  }
  out.set('service', schema.properties!.service);
  return out;
}

/** Key paths that take a value (a scalar, a list, or a free-form map such as headers). */
function schemaLeaves(node: SchemaNode, prefix: string): string[] {
  const n = deref(node);
  if (!n.properties) return [prefix];
  return Object.entries(n.properties).flatMap(([k, child]) => schemaLeaves(child, `${prefix}.${k}`));
}

/** Whether `keyPath` (component ids as their type) names a key of the schema, or lies inside a free-form map of it. */
function inSchema(keyPath: string): boolean {
  const [kind, type, ...rest] = keyPath.split('.');
  let node = kind === 'service' ? sections().get('service') : sections().get(`${kind}.${type}`);
  for (const key of kind === 'service' ? [type, ...rest].filter((k) => k !== undefined) : rest) {
    if (!node) return false;
    const n = deref(node);
    if (!n.properties) return true;
    node = n.properties[key];
  }
  return node !== undefined;
}

function at(root: unknown, keyPath: string): unknown {
  return keyPath
    .split('.')
    .reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), root);
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Leaf key paths of a parsed value; an empty mapping is a leaf. */
function valueLeaves(value: unknown, prefix: string): Array<[string, unknown]> {
  if (!isMapping(value) || Object.keys(value).length === 0) return [[prefix, value]];
  return Object.entries(value).flatMap(([k, v]) => valueLeaves(v, `${prefix}.${k}`));
}

const referenceText = readFileSync(path.join(ROOT, REFERENCE), 'utf8');
const reference = parseYaml(referenceText) as Record<string, unknown>;

describe(`${REFERENCE}`, () => {
  it("is a valid config, components' own checks included", () => {
    expect(() => parseConfigText(referenceText, REFERENCE, {}, builtinFactories)).not.toThrow();
  });

  it('sets every key of config/schema.json', () => {
    const missing = [...sections()].flatMap(([name, node]) => schemaLeaves(node, name)).filter((k) => at(reference, k) === undefined);
    expect(missing).toEqual([]);
  });

  it('sets every key a component reads, at the default its createDefaultConfig() has', () => {
    const differences: string[] = [];
    for (const factory of builtinFactories) {
      const name = `${factory.kind}s.${factory.type}`;
      for (const [key, value] of valueLeaves(factory.createDefaultConfig(), name)) {
        const shown = at(reference, key);
        if (shown === undefined) differences.push(`${key}: missing (default ${JSON.stringify(value)})`);
        // An empty mapping (headers, runtimes) has no default worth showing; the reference may fill it in.
        else if (!(isMapping(value) && Object.keys(value).length === 0) && JSON.stringify(shown) !== JSON.stringify(value)) {
          differences.push(`${key}: ${JSON.stringify(shown)}, but the default is ${JSON.stringify(value)}`);
        }
      }
    }
    expect(differences).toEqual([]);
  });
});

/** Every Markdown file of the project's own docs. */
function markdownFiles(): string[] {
  const found: string[] = ['README.md'];
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.md')) found.push(rel);
    }
  };
  walk('docs');
  walk('src');
  return found;
}

describe('config keys in the docs', () => {
  it('every key in a YAML config example of a Markdown doc is in the schema', () => {
    const unknown: string[] = [];
    let examples = 0;
    for (const file of markdownFiles()) {
      for (const [, block] of readFileSync(path.join(ROOT, file), 'utf8').matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
        const doc = parseYaml(block) as unknown;
        if (!isMapping(doc) || !Object.keys(doc).some((k) => (KINDS as readonly string[]).includes(k) || k === 'service')) continue;
        examples++;
        for (const [top, value] of Object.entries(doc)) {
          const byType =
            (KINDS as readonly string[]).includes(top) && isMapping(value)
              ? Object.entries(value).map(([id, v]) => [`${top}.${id.split('/')[0]}`, v] as const)
              : [[top, value] as const];
          for (const [name, v] of byType) {
            for (const [key] of valueLeaves(v, name)) if (!inSchema(key)) unknown.push(`${file}: ${key}`);
          }
        }
      }
    }
    expect(examples).toBeGreaterThanOrEqual(2);
    expect(unknown).toEqual([]);
  });

  it("the README's configuration table names every top-level key of each component and of service", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const unnamed: string[] = [];
    for (const [name, node] of sections()) {
      const row = new RegExp(`^\\| \`${name}\` \\|.*$`, 'm').exec(readme)?.[0];
      if (!row) {
        unnamed.push(`${name}: no row`);
        continue;
      }
      // `pipelines.logs` names pipelines too.
      for (const key of Object.keys(deref(node).properties!)) if (!new RegExp(`\`${key}[\`.]`).test(row)) unnamed.push(`${name}.${key}`);
    }
    expect(unnamed).toEqual([]);
  });

  it('the container enrichment README documents every key of its section, and only those', () => {
    const file = 'src/processors/container-enrichment/README.md';
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const table = text.slice(text.indexOf('## Configuration'), text.indexOf('\n## ', text.indexOf('## Configuration') + 1));
    const documented = [...table.matchAll(/^\| `([^`]+)` \|/gm)].flatMap(([, key]) => {
      // `runtimes.{containerd,cri}` stands for runtimes.containerd and runtimes.cri.
      const braces = /^(.*)\{([^}]+)\}(.*)$/.exec(key);
      return braces ? braces[2].split(',').map((k) => `${braces[1]}${k}${braces[3]}`) : [key];
    });
    const section = 'processors.container_enrichment';
    expect(documented.filter((k) => !inSchema(`${section}.${k}`))).toEqual([]);
    const topLevel = Object.keys(deref(sections().get(section)!).properties!);
    expect(topLevel.filter((k) => !documented.some((d) => d === k || d.startsWith(`${k}.`)))).toEqual([]);
  });
});
