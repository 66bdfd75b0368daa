import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileExporterFactory } from '../../src/exporters/file';
import { execBatch, expectSampleRequest, type JsonRequest, POD_CONTAINER, sampleBatch, testSettings } from './fixtures';

describe('file exporter (OTLP-JSON lines)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'file-exporter-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function create(config: Record<string, unknown>, id = 'exporters.file') {
    const settings = testSettings(id);
    const merged = { ...fileExporterFactory.createDefaultConfig(), ...config };
    expect(fileExporterFactory.validate!(merged)).toEqual([]);
    return { exporter: fileExporterFactory.create(merged, settings), settings };
  }

  test('writes one ExportLogsServiceRequest per batch per line, grouped by container resource', async () => {
    const file = path.join(dir, 'out.jsonl');
    const { exporter, settings } = create({ path: file });
    await exporter.start();
    const batch = sampleBatch();
    await exporter.consumeLogs(batch);
    await exporter.consumeLogs(execBatch(3, [POD_CONTAINER]));
    await exporter.shutdown();

    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(2);
    expectSampleRequest(JSON.parse(lines[0]) as JsonRequest, batch);
    const second = JSON.parse(lines[1]) as JsonRequest;
    expect(second.resourceLogs).toHaveLength(1);
    expect(second.resourceLogs[0].scopeLogs[0].logRecords).toHaveLength(3);
    expect(settings.stage.sent).toBe(8);
    expect(settings.stage.droppedTotal()).toBe(0);
  });

  test('resource_attributes override and extend the resource', async () => {
    const file = path.join(dir, 'out.jsonl');
    const { exporter } = create({
      path: file,
      resource_attributes: { 'service.name': 'edge-agent', 'deployment.environment.name': 'prod' },
    });
    await exporter.start();
    await exporter.consumeLogs(execBatch(1, [null]));
    await exporter.shutdown();
    const req = JSON.parse(readFileSync(file, 'utf8')) as JsonRequest;
    const keys = req.resourceLogs[0].resource.attributes.map((a) => [a.key, a.value.stringValue]);
    expect(keys).toEqual([
      ['service.name', 'edge-agent'],
      ['host.name', 'node-a.example'],
      ['k8s.node.name', 'node-a'],
      ['deployment.environment.name', 'prod'],
    ]);
  });

  test('a path that cannot be opened fails start() with the path, the reason and what to do', async () => {
    const bad = path.join(dir, 'no-such-dir', 'out.jsonl');
    const { exporter } = create({ path: bad });
    await expect(exporter.start()).rejects.toThrow(
      `cannot open ${bad} for appending: ENOENT (create its directory, or set exporters.file.path to - for stdout)`,
    );
    await exporter.shutdown();
  });

  test('bytes waiting for a slow reader are bounded: whole batches beyond max_queue_bytes are dropped and counted', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // A reader that never reads: the pipe fills and our writes queue up.
    const reader = spawn('sh', ['-c', `exec 3<"${fifo}"; exec sleep 60`], { stdio: 'ignore' });
    try {
      const { exporter, settings } = create({ path: fifo, max_queue_bytes: '256KiB' });
      await exporter.start();
      const batch = execBatch(400, [POD_CONTAINER], 0, 200); // ~0.3 MB of JSON per batch
      for (let k = 0; k < 5; k++) await exporter.consumeLogs(batch);
      expect(settings.stage.dropped.get('queue_full')).toBeGreaterThanOrEqual(400);
      expect(settings.stage.sent + settings.stage.droppedTotal()).toBeLessThanOrEqual(2000);
      reader.kill('SIGKILL');
      await new Promise((r) => reader.once('exit', r));
      await exporter.shutdown();
    } finally {
      if (reader.exitCode === null && reader.signalCode === null) reader.kill('SIGKILL');
    }
  });
});
