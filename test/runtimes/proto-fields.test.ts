import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { file, requires } from '../harness/requires';
import { CONTAINERD_PROTOS, CRI_PROTOS, PROTO_DIR } from '../../src/processors/container-enrichment/runtime/proto';

/**
 * Our proto subsets must be wire-compatible with upstream: every message, enum and service we
 * declare exists upstream under the same full name, with the same field numbers and types,
 * the same enum values and the same RPC signatures.
 */

const CONTAINERD_API = '/usr/share/gocode/src/github.com/containerd/containerd/api';
/** Where our subset files map to in containerd's api/ tree. */
const UPSTREAM_CONTAINERD: Record<string, string> = {
  'containerd/services/namespaces/v1/namespace.proto': 'services/namespaces/v1/namespace.proto',
  'containerd/services/containers/v1/containers.proto': 'services/containers/v1/containers.proto',
  'containerd/services/tasks/v1/tasks.proto': 'services/tasks/v1/tasks.proto',
  'containerd/services/images/v1/images.proto': 'services/images/v1/images.proto',
  'containerd/services/events/v1/events.proto': 'services/events/v1/events.proto',
  'containerd/services/version/v1/version.proto': 'services/version/v1/version.proto',
  'containerd/events/task.proto': 'events/task.proto',
  'containerd/types/task/task.proto': 'types/task/task.proto',
  'containerd/types/descriptor.proto': 'types/descriptor.proto',
};

/** Candidate locations of k8s.io/cri-api's api.proto (no Debian package ships it in bookworm). */
const CRI_UPSTREAM_CANDIDATES = [
  process.env.CRI_API_PROTO ?? '',
  '/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto',
].filter(Boolean);

type Shape = { fields: Record<string, string>; values: Record<string, number>; methods: Record<string, string> };

/** Parses without resolving imports; upstream files carry gogoproto options we never need. */
function shapes(text: string): Map<string, Shape> {
  const root = protobuf.parse(text, { keepCase: true, alternateCommentMode: true }).root;
  const out = new Map<string, Shape>();
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      const name = obj.fullName.replace(/^\./, '');
      if (obj instanceof protobuf.Type) {
        const fields: Record<string, string> = {};
        for (const f of obj.fieldsArray) {
          const type = f.map ? `map<${(f as unknown as protobuf.MapField).keyType},${shortType(f.type)}>` : shortType(f.type);
          fields[f.name] = `${f.id}:${f.repeated ? 'repeated ' : ''}${type}`;
        }
        out.set(name, { fields, values: {}, methods: {} });
      } else if (obj instanceof protobuf.Enum) {
        out.set(name, { fields: {}, values: { ...obj.values }, methods: {} });
      } else if (obj instanceof protobuf.Service) {
        const methods: Record<string, string> = {};
        for (const m of obj.methodsArray)
          methods[m.name] = `${shortType(m.requestType)}${m.responseStream ? ' stream ' : ' '}${shortType(m.responseType)}`;
        out.set(name, { fields: {}, values: {}, methods });
      }
      if (obj instanceof protobuf.Namespace) walk(obj);
    }
  };
  walk(root);
  return out;
}

/** Compare type names by their last component: packages are spelled differently across files. */
function shortType(t: string): string {
  return t.slice(t.lastIndexOf('.') + 1);
}

function expectSubset(ours: Map<string, Shape>, upstream: Map<string, Shape>, file: string): number {
  let checked = 0;
  for (const [name, shape] of ours) {
    const up = upstream.get(name);
    if (!up) throw new Error(`${file}: ${name} does not exist upstream`);
    for (const [field, sig] of Object.entries(shape.fields)) {
      expect({ [`${name}.${field}`]: up.fields[field] }).toEqual({ [`${name}.${field}`]: sig });
      checked++;
    }
    for (const [value, num] of Object.entries(shape.values)) {
      expect({ [`${name}.${value}`]: up.values[value] }).toEqual({ [`${name}.${value}`]: num });
      checked++;
    }
    for (const [method, sig] of Object.entries(shape.methods)) {
      expect({ [`${name}.${method}`]: up.methods[method] }).toEqual({ [`${name}.${method}`]: sig });
      checked++;
    }
  }
  return checked;
}

requires(file(CONTAINERD_API, 'scripts/setup.sh --test installs golang-github-containerd-containerd-dev')).describe(
  'containerd proto subsets match upstream field numbers',
  () => {
    test('every subset file maps to an upstream file', () => {
      expect(Object.keys(UPSTREAM_CONTAINERD).sort()).toEqual(expect.arrayContaining([...CONTAINERD_PROTOS].sort()));
    });

    test.each(Object.entries(UPSTREAM_CONTAINERD))('%s', (ours, upstream) => {
      const mine = shapes(readFileSync(path.join(PROTO_DIR, ours), 'utf8'));
      const theirs = shapes(readFileSync(path.join(CONTAINERD_API, upstream), 'utf8'));
      expect(expectSubset(mine, theirs, ours)).toBeGreaterThan(0);
    });
  },
);

describe('CRI v1 subset', () => {
  const upstreamFile = CRI_UPSTREAM_CANDIDATES.find((p) => existsSync(p)) ?? CRI_UPSTREAM_CANDIDATES[0];
  const mine = shapes(readFileSync(path.join(PROTO_DIR, CRI_PROTOS[0]), 'utf8'));

  // Optional even on CI: no Debian package ships k8s.io/cri-api, and the test below checks the recorded numbers.
  const criApi = file(
    upstreamFile,
    'no Debian package ships k8s.io/cri-api; the recorded upstream numbers are checked instead; set CRI_API_PROTO=/path/to/api.proto to check a file',
    false,
  );
  requires(criApi).test('matches an installed upstream api.proto', () => {
    expect(expectSubset(mine, shapes(readFileSync(upstreamFile, 'utf8')), upstreamFile)).toBeGreaterThan(0);
  });

  test('matches the field numbers recorded from k8s.io/cri-api', () => {
    // Facts read from k8s.io/cri-api pkg/apis/runtime/v1/api.proto (upstream commit 791729b).
    const recorded = JSON.parse(readFileSync(path.join(__dirname, '../testdata/cri-v1-fields.json'), 'utf8')) as Record<
      string,
      Record<string, number | string>
    >;
    let checked = 0;
    for (const [name, shape] of mine) {
      const up = recorded[name];
      if (!up) throw new Error(`runtime.v1 ${name} is not in the recorded upstream table`);
      for (const [field, sig] of Object.entries(shape.fields)) {
        expect({ [`${name}.${field}`]: up[field] }).toEqual({ [`${name}.${field}`]: Number(sig.split(':')[0]) });
        checked++;
      }
      for (const [value, num] of Object.entries(shape.values)) {
        expect({ [`${name}.${value}`]: up[value] }).toEqual({ [`${name}.${value}`]: num });
        checked++;
      }
      for (const [method, sig] of Object.entries(shape.methods)) {
        expect({ [`${name}.${method}`]: up[method] }).toEqual({ [`${name}.${method}`]: sig });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });
});
