/** Protobuf wire types. */
export const WireType = { varint: 0, fixed64: 1, len: 2, fixed32: 5 } as const;

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of the varint encoding of a non-negative safe integer. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

const TWO_POW_64 = 1n << 64n;

/**
 * A growable output buffer with just the protobuf primitives the OTLP logs
 * encoder needs. Callers compute lengths up front where they can; `beginLen`
 * / `endLen` handle the one message whose length is only known afterwards.
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

  /** int64 as protobuf does: negatives are ten bytes of two's complement. */
  int64(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      this.varint(v);
      return;
    }
    let u = BigInt(v);
    if (u < 0n) u += TWO_POW_64;
    const b = this.buf;
    while (u >= 128n) {
      b[this.pos++] = Number(u & 127n) | 128;
      u >>= 7n;
    }
    b[this.pos++] = Number(u);
  }

  fixed64(v: bigint): void {
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Reserves room for a length prefix expected to fit `reserve` bytes; returns the mark for `endLen`. */
  beginLen(reserve: number): number {
    this.ensure(reserve);
    const mark = this.pos;
    this.pos += reserve;
    return mark;
  }

  endLen(mark: number, reserve: number): void {
    const bodyStart = mark + reserve;
    const len = this.pos - bodyStart;
    const need = varintSize(len);
    if (need !== reserve) {
      if (need > reserve) this.ensure(need - reserve);
      this.buf.copyWithin(mark + need, bodyStart, this.pos);
      this.pos += need - reserve;
    }
    const end = this.pos;
    this.pos = mark;
    this.varint(len);
    this.pos = end;
  }
}

export function int64Size(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) return varintSize(v);
  let u = BigInt(v);
  if (u < 0n) return 10;
  let n = 1;
  while (u >= 128n) {
    u >>= 7n;
    n++;
  }
  return n;
}

/** A length-delimited field (`tag`, length, bytes) as one Buffer, for parts encoded once. */
export function lenField(field: number, body: Uint8Array): Buffer {
  const out = new ProtoBuffer(body.length + 16);
  out.varint(tag(field, WireType.len));
  out.varint(body.length);
  out.bytes(body);
  return out.buf.subarray(0, out.pos);
}

export function stringField(field: number, value: string): Buffer {
  return lenField(field, Buffer.from(value, 'utf8'));
}
