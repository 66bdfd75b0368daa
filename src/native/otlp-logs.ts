import { LazyAddon } from './load';
import type { EncodeLogRecords, LogRecordEncoder, NativeLogEncoder } from './types';

interface EncoderAddon {
  createLogEncoder(errnoNames: Array<string | undefined>): NativeLogEncoder;
  encodeLogRecords: EncodeLogRecords;
}

/* The OTLP exporter's own addon: it links no libbpf, and nothing here loads the BPF addon. */
const encoderAddon = new LazyAddon<EncoderAddon>('otlp_logs', '');

/**
 * OTLP LogRecords encoded natively from kernel records (native/addon/otlp_logs.c);
 * same mapping as src/exporters/log-mapping. See LogsRequestEncoder for the calling contract.
 */
export function nativeLogRecordEncoder(errnoNames: Array<string | undefined>): LogRecordEncoder {
  const native = encoderAddon.load();
  return { encoder: native.createLogEncoder(errnoNames), encode: native.encodeLogRecords };
}

/** Why the encoder addon cannot load, or undefined when it can (for `doctor`). */
export function otlpEncoderAddonError(): string | undefined {
  return encoderAddon.error();
}
