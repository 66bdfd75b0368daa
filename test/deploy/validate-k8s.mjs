// Validates Kubernetes objects (a JSON array on stdin) against the API schemas that the
// kubernetes-models package ships (one validator per kind, generated from Kubernetes' OpenAPI
// spec). ESM-only, hence a child process of the Jest test (test/deploy/kubernetes.test.ts).
// Prints a JSON array: one { kind, name, error } per object ('' when valid).
import { readFileSync } from 'node:fs';

const objects = JSON.parse(readFileSync(0, 'utf8'));
/** apiVersion → kubernetes-models module: core v1 is 'v1', groups are 'group/version'. */
const moduleOf = (apiVersion) => `kubernetes-models/${apiVersion}`;
const results = [];
for (const o of objects) {
  const name = o?.metadata?.name ?? '';
  let error = '';
  try {
    const mod = await import(moduleOf(o.apiVersion));
    const Model = mod[o.kind];
    if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
    new Model(o).validate();
  } catch (err) {
    error = err.message;
  }
  results.push({ kind: o?.kind, name, error });
}
process.stdout.write(JSON.stringify(results));
