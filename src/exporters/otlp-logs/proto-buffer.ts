/** Protobuf wire types. */
export const WireType = { varint: 0, len: 2 } as const;

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of the varint encoding of a non-negative integer below 2^64. */
export function varintSize(v: number): number {
  if (v < 128) return 1;
  if (v < 16384) return 2;
  if (v < 2097152) return 3;
  if (v < 268435456) return 4;
  let n = 5;
  v = Math.floor(v / 34359738368);
  while (v >= 1) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * A growable output buffer with the few protobuf primitives the request
 * framing needs; the LogRecords in it are written natively.
 */
export class ProtoBuffer {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = Math.max(64, this.buf.length * 2);
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Caller has ensured room (at most 10 bytes). */
  varint(v: number): void {
    const b = this.buf;
    let p = this.pos;
    while (v >= 128) {
      b[p++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    b[p++] = v;
    this.pos = p;
  }

  bytes(src: Buffer): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }
}

/** A length-delimited field (`tag`, length, bytes) as one Buffer, for parts encoded once. */
export function lenField(field: number, body: Buffer): Buffer {
  const out = new ProtoBuffer(body.length + 16);
  out.varint(tag(field, WireType.len));
  out.varint(body.length);
  out.bytes(body);
  return out.buf.subarray(0, out.pos);
}

export function stringField(field: number, value: string): Buffer {
  return lenField(field, Buffer.from(value, 'utf8'));
}
