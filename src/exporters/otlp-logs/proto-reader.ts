/**
 * Walks the fields of one protobuf message: `visit(field, wire, value, start, end)` gets a varint's
 * value (wire 0) or a length-delimited field's byte range in `b` (wire 2); fixed64/fixed32 fields
 * are skipped. Throws on a truncated message or an unknown wire type. Enough to read the few
 * response fields the exporter needs without a generated decoder.
 */
export function visitFields(b: Buffer, visit: (field: number, wire: number, value: number, start: number, end: number) => void): void {
  let p = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    let byte: number;
    do {
      if (p >= b.length) throw new Error('truncated');
      byte = b[p++];
      v += (byte & 127) * mul;
      mul *= 128;
    } while (byte & 128);
    return v;
  };
  while (p < b.length) {
    const key = varint();
    const wire = key & 7;
    const field = Math.floor(key / 8);
    if (wire === 0) visit(field, wire, varint(), 0, 0);
    else if (wire === 2) {
      const len = varint();
      if (p + len > b.length) throw new Error('truncated');
      visit(field, wire, 0, p, p + len);
      p += len;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error('bad wire type');
  }
}
