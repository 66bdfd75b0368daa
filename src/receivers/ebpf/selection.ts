import type { ContainerInfo } from '../../events';
import type { ContainerSelection, ContainerSelector } from './config';

/** `*` any run of characters, `?` one; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

type Matcher = (info: ContainerInfo) => boolean;

function compileSelector(selector: ContainerSelector): Matcher {
  const tests: Matcher[] = [];
  if (selector.k8s_namespace !== undefined) {
    const re = globToRegExp(selector.k8s_namespace);
    tests.push((info) => info.k8s !== undefined && re.test(info.k8s.namespace));
  }
  if (selector.k8s_pod_labels !== undefined) {
    const labels = Object.entries(selector.k8s_pod_labels).map(([key, value]) => [key, globToRegExp(value)] as const);
    tests.push((info) => {
      const pod = info.k8s?.podLabels;
      return pod !== undefined && labels.every(([key, re]) => pod[key] !== undefined && re.test(pod[key]));
    });
  }
  if (selector.k8s_workload !== undefined) {
    const re = globToRegExp(selector.k8s_workload);
    tests.push((info) => {
      const w = info.k8s?.workload;
      return w !== undefined && (re.test(`${w.kind}/${w.name}`) || re.test(w.name));
    });
  }
  if (selector.container_name !== undefined) {
    const re = globToRegExp(selector.container_name);
    tests.push((info) => re.test(info.k8s?.containerName || info.name));
  }
  if (selector.image !== undefined) {
    const re = globToRegExp(selector.image);
    tests.push((info) => info.image.name !== '' && re.test(info.image.name));
  }
  return (info) => tests.every((t) => t(info));
}

/**
 * `filters.containers` as one predicate: traced when a container matches
 * an include (or there is none) and no exclude. undefined: no selection
 * (every container is traced, nothing to decide).
 */
export function compileSelection(selection: ContainerSelection): Matcher | undefined {
  if (selection.include.length === 0 && selection.exclude.length === 0) return undefined;
  const include = selection.include.map(compileSelector);
  const exclude = selection.exclude.map(compileSelector);
  return (info) => (include.length === 0 || include.some((m) => m(info))) && !exclude.some((m) => m(info));
}
