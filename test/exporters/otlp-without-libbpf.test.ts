/**
 * The OTLP exporter's encoder is an addon of its own (binding.gyp's otlp_logs) that links no
 * libbpf, so the exporter runs where the BPF addon cannot load: a collector-side deployment,
 * a machine without libbpf. The ELF says what the encoder needs; a node of its own shows what
 * exporting loads.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { addonPath } from '../../src/native/load';
import { runTsChild } from '../harness/ts-child';
import type { ChildReport } from './otlp-export-child';

const ENCODER = addonPath('otlp_logs');
const BPF = addonPath('ebpf_otel');

function needed(file: string): string[] {
  return [...execFileSync('readelf', ['-d', file], { encoding: 'utf8' }).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (m) => m[1],
  );
}

/** Dynamic symbols: `U` (undefined, to be resolved at load) or defined. */
function dynamicSymbols(file: string, which: '--undefined-only' | '--defined-only'): Set<string> {
  const out = execFileSync('nm', ['-D', which, file], { encoding: 'utf8' });
  return new Set(out.split('\n').flatMap((line) => (line.trim() ? [line.trim().split(/\s+/).pop()!.replace(/@.*/, '')] : [])));
}

function libbpfPath(): string {
  const m = /libbpf\.so\.1 => (\S+)/.exec(execFileSync('ldd', [BPF], { encoding: 'utf8' }));
  if (!m) throw new Error(`ldd ${BPF} names no libbpf.so.1`);
  return m[1];
}

function exportInChild(mode: 'otlp' | 'bpf'): ChildReport {
  const r = runTsChild(path.join(__dirname, 'otlp-export-child.ts'), [mode]);
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(r.stdout) as ChildReport;
}

describe('the OTLP encoder addon needs no libbpf', () => {
  test('otlp_logs.node: no libbpf among its libraries and no libbpf symbol to resolve; ebpf_otel.node has both', () => {
    expect(needed(BPF)).toContain('libbpf.so.1');
    expect(needed(ENCODER)).not.toEqual(expect.arrayContaining([expect.stringMatching(/libbpf/)]));
    const libbpf = dynamicSymbols(libbpfPath(), '--defined-only');
    const fromLibbpf = (file: string) => [...dynamicSymbols(file, '--undefined-only')].filter((s) => libbpf.has(s));
    expect(fromLibbpf(BPF)).toEqual(expect.arrayContaining(['bpf_object__load_skeleton', 'libbpf_set_print']));
    expect(fromLibbpf(ENCODER)).toEqual([]);
  });

  test('exporting through the OTLP exporter loads otlp_logs.node and neither ebpf_otel.node nor libbpf', () => {
    const report = exportInChild('otlp');
    expect(report.received).toBeGreaterThan(0);
    expect(report.required).toEqual([ENCODER]);
    expect(report.mapped).toEqual([ENCODER]);
  });

  test('the same report shows the BPF addon and libbpf once the boot clock is read', () => {
    const report = exportInChild('bpf');
    expect(report.required.sort()).toEqual([BPF, ENCODER].sort());
    expect(report.mapped).toEqual(expect.arrayContaining([ENCODER, BPF, expect.stringMatching(/\/libbpf\.so/)]));
  });
});
