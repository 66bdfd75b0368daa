/** Protobuf wire types. */
export const WireType = { varint: 0, fixed64: 1, len: 2, fixed32: 5 } as const;

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

const TWO_POW_64 = 1n << 64n;
const SHORT_COPY = 8;
const SCRATCH64 = new BigUint64Array(1);
const SCRATCH8 = new Uint8Array(SCRATCH64.buffer);

/** UTF-8 byte length; equal to `.length` exactly when the string is ASCII. */
export function utf8Length(value: string): number {
  for (let k = 0; k < value.length; k++) if (value.charCodeAt(k) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}

/**
 * A growable output buffer with just the protobuf primitives the OTLP logs
 * encoder needs. Callers compute lengths up front where they can; `beginLen`
 * / `endLen` handle the one message whose length is only known afterwards.
 */
export class ProtoBuffer {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 16 * 1024, buf?: Buffer) {
    this.buf = buf ?? Buffer.allocUnsafe(initialSize);
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
  int64(v: number): void {
    if (v >= 0) {
      this.varint(v);
      return;
    }
    let u = BigInt(v) + TWO_POW_64;
    const b = this.buf;
    while (u >= 128n) {
      b[this.pos++] = Number(u & 127n) | 128;
      u >>= 7n;
    }
    b[this.pos++] = Number(u);
  }

  fixed64(v: bigint): void {
    // A typed-array store converts the bigint without a call into Buffer's writer.
    SCRATCH64[0] = v;
    const b = this.buf;
    let p = this.pos;
    for (let k = 0; k < 8; k++) b[p++] = SCRATCH8[k];
    this.pos = p;
  }

  bytes(src: Buffer): void {
    this.ensure(src.length);
    this.copyFrom(src, 0, src.length);
  }

  /**
   * Copies `src[start, end)`; caller has ensured room. Measured here: a
   * native copy beats a JS byte loop from about 8 bytes on; `set` of a whole
   * buffer beats `copy` of a range.
   */
  copyFrom(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n >= SHORT_COPY) {
      if (start === 0 && end === src.length) this.buf.set(src, this.pos);
      else src.copy(this.buf, this.pos, start, end);
    } else {
      const b = this.buf;
      let p = this.pos;
      for (let s = start; s < end; s++) b[p++] = src[s];
    }
    this.pos += n;
  }

  /**
   * Writes a string as UTF-8; caller has ensured room for `byteLength`
   * (from `utf8Length`). ASCII, the common case, is written without a native call.
   */
  string(value: string, byteLength: number): void {
    if (byteLength === value.length) {
      const b = this.buf;
      let p = this.pos;
      for (let k = 0; k < value.length; k++) b[p++] = value.charCodeAt(k);
      this.pos = p;
    } else {
      this.pos += this.buf.write(value, this.pos, 'utf8');
    }
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

export function int64Size(v: number): number {
  return v >= 0 ? varintSize(v) : 10;
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
