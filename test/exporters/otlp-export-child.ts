/*
 * Run by otlp-without-libbpf.test.ts in a node of its own (test/harness/ts-child.ts): the OTLP
 * exporter sends a batch to a sink, then the process reports what it loaded. With `bpf` it also
 * reads the BPF addon's boot clock, so the test sees that this report does show that addon.
 */
import { readFileSync } from 'node:fs';
import { otlpLogsExporterFactory } from '../../src/exporters/otlp-logs';
import { bootTimeNs } from '../../src/native';
import { mergeDefaults } from '../../src/pipeline/config';
import { OtlpSink } from '../harness/otlp-sink';
import { sampleBatch, testSettings } from './fixtures';

export interface ChildReport {
  /** Records the sink received. */
  received: number;
  /** .node files in require's cache. */
  required: string[];
  /** Shared objects mapped into the process (/proc/self/maps), for .node files and libbpf. */
  mapped: string[];
}

async function main(withBpf: boolean): Promise<void> {
  const sink = await new OtlpSink().start();
  const config = mergeDefaults(otlpLogsExporterFactory.createDefaultConfig(), { endpoint: `http://${sink.address}` });
  const exporter = otlpLogsExporterFactory.create(config, testSettings('exporters.otlp'));
  await exporter.start();
  await exporter.consumeLogs(sampleBatch());
  // Flushes and waits for the sink's answer.
  await exporter.shutdown();
  sink.stop();
  if (withBpf) bootTimeNs();
  const objects = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/)[5] ?? '')
    .filter((file) => file.endsWith('.node') || /libbpf/.test(file));
  const report: ChildReport = {
    received: sink.records,
    required: Object.keys(require.cache).filter((file) => file.endsWith('.node')),
    mapped: [...new Set(objects)],
  };
  process.stdout.write(JSON.stringify(report));
}

main(process.argv[2] === 'bpf').catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
