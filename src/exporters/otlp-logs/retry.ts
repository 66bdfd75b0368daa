import { status } from '@grpc/grpc-js';
import { visitFields } from './proto-reader';

/**
 * gRPC codes the OTLP specification calls retryable. RESOURCE_EXHAUSTED is
 * only retryable when the server says when to come back (RetryInfo).
 */
const RETRYABLE = new Set<number>([
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.OUT_OF_RANGE,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

export interface Classified {
  retryable: boolean;
  /** `UNAVAILABLE`, … or `LOCAL` for errors raised before a call was made. */
  code: string;
  /** Server-requested delay (google.rpc.RetryInfo), ms. */
  retryAfterMs?: number;
}

interface GrpcLikeError {
  code?: unknown;
  metadata?: { get(key: string): Array<string | Buffer> };
}

/** What the delegate's own concurrency guard says; we size it so it should not fire, and retry if it does. */
const CONCURRENCY_LIMIT_MESSAGE = 'Concurrent export limit reached';

export function classifyError(err: unknown): Classified {
  const e = err as GrpcLikeError | undefined;
  if (e && typeof e.code === 'number') {
    const code = status[e.code] ?? `CODE_${e.code}`;
    if (e.code === status.RESOURCE_EXHAUSTED) {
      const delay = retryInfoDelayMs(e);
      return delay === undefined ? { retryable: false, code } : { retryable: true, code, retryAfterMs: delay };
    }
    return { retryable: RETRYABLE.has(e.code), code };
  }
  return { retryable: err instanceof Error && err.message === CONCURRENCY_LIMIT_MESSAGE, code: 'LOCAL' };
}

/** Exponential backoff with ±50 % jitter, like the Collector's defaults. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, initialMs * 1.5 ** attempt);
  return Math.round(base * (0.5 + random()));
}

function retryInfoDelayMs(e: GrpcLikeError): number | undefined {
  const raw = e.metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return undefined;
  try {
    return parseRetryInfo(raw);
  } catch {
    return undefined;
  }
}

/** Minimal wire reader for google.rpc.Status → details (Any) → RetryInfo.retry_delay (Duration). */
function parseRetryInfo(buf: Buffer): number | undefined {
  let delay: number | undefined;
  visitFields(buf, (field, wire, _v, start, end) => {
    if (field !== 3 || wire !== 2) return;
    const any = buf.subarray(start, end);
    let typeUrl = '';
    let value: Buffer | undefined;
    visitFields(any, (f, w, _x, s, e) => {
      if (f === 1 && w === 2) typeUrl = any.toString('utf8', s, e);
      if (f === 2 && w === 2) value = any.subarray(s, e);
    });
    if (!typeUrl.endsWith('/google.rpc.RetryInfo') || !value) return;
    const info = value;
    visitFields(info, (f, w, _x, s, e) => {
      if (f !== 1 || w !== 2) return;
      let seconds = 0;
      let nanos = 0;
      const duration = info.subarray(s, e);
      visitFields(duration, (df, dw, v) => {
        if (df === 1 && dw === 0) seconds = v;
        if (df === 2 && dw === 0) nanos = v;
      });
      delay = seconds * 1000 + Math.round(nanos / 1e6);
    });
  });
  return delay;
}
