/**
 * Pod labels and annotations as resource attributes: allow-lists, bounds, counts (issue 15).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ContainerInfo } from '../../src/events';
import { fileExporterFactory } from '../../src/exporters/file';
import { PodMetadataPolicy, createDefaultPodMetadataConfig, cutUtf8, resourceAttributes } from '../../src/exporters/log-mapping';
import { otlpLogsExporterFactory } from '../../src/exporters/otlp-logs';
import { mergeDefaults } from '../../src/pipeline/config';
import { HOST, POD_CONTAINER, attrs, execBatch, testSettings, type JsonRequest } from './fixtures';

function pod(podLabels: Record<string, string>, podAnnotations: Record<string, string> = {}): ContainerInfo {
  return { ...POD_CONTAINER, k8s: { ...POD_CONTAINER.k8s!, podLabels, podAnnotations } };
}

function podAttrs(info: ContainerInfo, policy: PodMetadataPolicy): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const a of resourceAttributes(info, HOST, {}, policy))
    if (a.key.startsWith('k8s.pod.label.') || a.key.startsWith('k8s.pod.annotation.')) out[a.key] = a.value as string;
  return out;
}

describe('pod metadata policy', () => {
  test('default: app, app.kubernetes.io/*, k8s-app, version, component, tier; no annotations', () => {
    const info = pod(
      {
        app: 'a',
        'app.kubernetes.io/name': 'n',
        'app.kubernetes.io/part-of': 'p',
        'k8s-app': 'k',
        version: 'v1',
        component: 'c',
        tier: 't',
        'pod-template-hash': 'h',
        team: 'x',
        'example.com/app': 'no',
      },
      { 'example.com/owner': 'o' },
    );
    expect(podAttrs(info, new PodMetadataPolicy(createDefaultPodMetadataConfig()))).toEqual({
      'k8s.pod.label.app': 'a',
      'k8s.pod.label.app.kubernetes.io/name': 'n',
      'k8s.pod.label.app.kubernetes.io/part-of': 'p',
      'k8s.pod.label.component': 'c',
      'k8s.pod.label.k8s-app': 'k',
      'k8s.pod.label.tier': 't',
      'k8s.pod.label.version': 'v1',
    });
  });

  test('annotations are sent only when listed; patterns are keys with * (no other wildcard)', () => {
    const policy = new PodMetadataPolicy({
      ...createDefaultPodMetadataConfig(),
      labels: ['team', 'example.com/*'],
      annotations: ['example.com/owner', 'prometheus.io/*'],
    });
    const info = pod(
      { team: 'x', 'example.com/a': '1', 'example.com.evil/a': '2', teamX: '3', app: 'no' },
      { 'example.com/owner': 'o', 'prometheus.io/scrape': 'true', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    );
    expect(podAttrs(info, policy)).toEqual({
      'k8s.pod.label.example.com/a': '1',
      'k8s.pod.label.team': 'x',
      'k8s.pod.annotation.example.com/owner': 'o',
      'k8s.pod.annotation.prometheus.io/scrape': 'true',
    });
    expect(podAttrs(info, new PodMetadataPolicy({ ...createDefaultPodMetadataConfig(), labels: ['t?am'] }))).toEqual({});
  });

  test('a pod with 200 labels of 10 KB each: at most max_attributes attributes of at most max_value_length bytes; the rest counted, nothing thrown', () => {
    const labels: Record<string, string> = {};
    for (let k = 0; k < 200; k++)
      labels[`app.kubernetes.io/l${String(k).padStart(3, '0')}`] = `${'ä'.repeat(k % 3)}${'v'.repeat(10 * 1024)}`;
    const cuts: Array<[string, string, number]> = [];
    const policy = new PodMetadataPolicy(createDefaultPodMetadataConfig(), (kind, reason, n) => cuts.push([kind, reason, n]));
    const got = podAttrs(pod(labels), policy);
    expect(Object.keys(got)).toHaveLength(32);
    // The first 32 in key order are kept.
    expect(Object.keys(got)[0]).toBe('k8s.pod.label.app.kubernetes.io/l000');
    expect(Object.keys(got)[31]).toBe('k8s.pod.label.app.kubernetes.io/l031');
    for (const v of Object.values(got)) expect(Buffer.byteLength(String(v))).toBeLessThanOrEqual(256);
    expect(got['k8s.pod.label.app.kubernetes.io/l001']).toBe(`ä${'v'.repeat(254)}`);
    expect(cuts.sort()).toEqual([
      ['label', 'count', 168],
      ['label', 'length', 32],
    ]);
  });

  test('keys longer than any Kubernetes allows are left out and counted; values are cut on a UTF-8 character boundary', () => {
    const cuts: Array<[string, string, number]> = [];
    const policy = new PodMetadataPolicy({ ...createDefaultPodMetadataConfig(), labels: ['*'], max_value_length: 5 }, (kind, reason, n) =>
      cuts.push([kind, reason, n]),
    );
    expect(podAttrs(pod({ ['k'.repeat(400)]: 'x', ok: 'ab€cd' }), policy)).toEqual({ 'k8s.pod.label.ok': 'ab€' });
    expect(cuts).toEqual([['label', 'length', 2]]);
    expect(cutUtf8('ab€cd', 4)).toBe('ab');
    expect(cutUtf8('ab€cd', 5)).toBe('ab€');
    expect(cutUtf8('𝄞𝄞', 7)).toBe('𝄞');
    expect(cutUtf8('plain', 100)).toBe('plain');
  });

  test('max_attributes counts labels and annotations together, labels first', () => {
    const cuts: Array<[string, string, number]> = [];
    const policy = new PodMetadataPolicy(
      { labels: ['*'], annotations: ['*'], max_attributes: 2, max_value_length: 256 },
      (kind, reason, n) => cuts.push([kind, reason, n]),
    );
    expect(podAttrs(pod({ b: '2', a: '1' }, { z: '9' }), policy)).toEqual({ 'k8s.pod.label.a': '1', 'k8s.pod.label.b': '2' });
    expect(cuts).toEqual([['annotation', 'count', 1]]);
  });
});

describe('exporters with pod_metadata', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'eco-podmeta-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the file exporter sends the allow-listed labels, bounds a pod of 200 labels × 10 KB, and counts once per container (OTLP in the same registry shares the counter)', async () => {
    const settings = testSettings('exporters.file');
    const file = path.join(dir, 'out.jsonl');
    const config = mergeDefaults(fileExporterFactory.createDefaultConfig(), {
      path: file,
      pod_metadata: { labels: ['*'], annotations: ['example.com/*'], max_attributes: 50, max_value_length: 100 },
    });
    expect(fileExporterFactory.validate!(config)).toEqual([]);
    const exporter = fileExporterFactory.create(config, settings);
    // An OTLP exporter in the same registry registers the same counter without clashing.
    const otlp = otlpLogsExporterFactory.create(
      mergeDefaults(otlpLogsExporterFactory.createDefaultConfig(), { endpoint: 'http://127.0.0.1:1' }),
      { ...settings, id: 'exporters.otlp', stage: settings.telemetry.stage('exporters.otlp') },
    );
    await exporter.start();
    const labels: Record<string, string> = {};
    for (let k = 0; k < 200; k++) labels[`l${String(k).padStart(3, '0')}`] = 'v'.repeat(10 * 1024);
    const big = pod(labels, { 'example.com/owner': 'o', other: 'no' });
    await exporter.consumeLogs(execBatch(10, [big]));
    await exporter.shutdown();
    await otlp.shutdown();
    const req = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]) as JsonRequest;
    expect(req.resourceLogs).toHaveLength(1);
    const resource = attrs(req.resourceLogs[0].resource.attributes);
    const meta = Object.keys(resource).filter((k) => k.startsWith('k8s.pod.label.') || k.startsWith('k8s.pod.annotation.'));
    expect(meta).toHaveLength(50);
    expect(resource['k8s.pod.annotation.example.com/owner']).toBeUndefined();
    expect(String(resource['k8s.pod.label.l000'])).toHaveLength(100);
    expect(settings.stage.sent).toBe(10);
    const text = await settings.metrics.metrics();
    // One resource built for the container: 150 labels and the annotation over the count, 50 values cut.
    expect(text).toMatch(
      /^ebpf_container_otel_exporter_pod_metadata_cut_total\{component="exporters.file",kind="label",reason="count"\} 150$/m,
    );
    expect(text).toMatch(
      /^ebpf_container_otel_exporter_pod_metadata_cut_total\{component="exporters.file",kind="annotation",reason="count"\} 1$/m,
    );
    expect(text).toMatch(
      /^ebpf_container_otel_exporter_pod_metadata_cut_total\{component="exporters.file",kind="label",reason="length"\} 50$/m,
    );
  });

  test('an empty pattern is a config error naming the key', () => {
    const config = mergeDefaults(otlpLogsExporterFactory.createDefaultConfig(), { pod_metadata: { labels: ['app', ' '] } });
    expect(otlpLogsExporterFactory.validate!(config)).toEqual([
      'pod_metadata.labels[1]: must not be empty (a label key, or a pattern with *)',
    ]);
  });
});
