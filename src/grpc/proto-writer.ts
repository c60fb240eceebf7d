/**
 * The protobuf binary wire format written straight into one growing Buffer, for the hand-written
 * encoders of the hot responses (encode-task.ts, encode-execution.ts). protobuf-es' toBinary
 * walks every message by reflection and joins a chunk per field: for a ListTasks page that was
 * a third of the service's time. Length prefixes of nested messages are back-patched, so a
 * message is written in one pass. The bytes are the ones toBinary writes (field order, implicit
 * presence, varint forms, UTF-8): the unit tests compare them byte for byte.
 */

const WIRE_VARINT = 0;
const WIRE_BIT64 = 1;
const WIRE_LEN = 2;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const TWO_POW_32 = 4294967296;

export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 512) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** The bytes written so far (a view, not a copy). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** Starts a length-delimited field (a nested message or a packed list); end it with `join`. */
  fork(field: number): number {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    this.pos++; // room for a one-byte length, the usual case
    return this.pos;
  }

  /** Ends the field begun by `fork` (which returned `start`): writes its length before it. */
  join(start: number): void {
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[start - 1] = length;
      return;
    }
    const size = varintSize(length);
    this.ensure(size - 1);
    this.buf.copyWithin(start - 1 + size, start, this.pos);
    this.pos += size - 1;
    let at = start - 1;
    let value = length;
    while (value > 0x7f) {
      this.buf[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buf[at] = value;
  }

  /** A string field, skipped when empty (proto3 implicit presence; absent counts as empty, as in create()). */
  string(field: number, value: string | undefined): void {
    if (value === '' || value === undefined) return;
    this.tag(field, WIRE_LEN);
    this.stringValue(value);
  }

  /** A string field written even when empty (map entries). */
  stringAlways(field: number, value: string): void {
    this.tag(field, WIRE_LEN);
    this.stringValue(value);
  }

  /** A bytes field, skipped when empty (or absent). */
  bytes(field: number, value: Uint8Array | undefined): void {
    if (value === undefined || value.byteLength === 0) return;
    this.tag(field, WIRE_LEN);
    this.uint32(value.byteLength);
    this.ensure(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
  }

  /** An int32 (or enum) field, skipped when 0 (or absent); throws outside int32 as toBinary does. */
  int32(field: number, value: number | undefined): void {
    if (value === 0 || value === undefined) return;
    this.tag(field, WIRE_VARINT);
    this.int32Value(value);
  }

  /** An int32 inside a packed list (always written). */
  int32Value(value: number): void {
    if (!Number.isInteger(value) || value > INT32_MAX || value < INT32_MIN) throw new Error(`invalid int32: ${value}`);
    if (value >= 0) {
      this.uint32(value);
      return;
    }
    this.ensure(10);
    let v = value;
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (v & 127) | 128;
      v >>= 7;
    }
    this.buf[this.pos++] = 1;
  }

  /** An int64 field from a safe integer, skipped when 0. */
  int64(field: number, value: number): void {
    if (value === 0) return;
    this.tag(field, WIRE_VARINT);
    if (!Number.isSafeInteger(value)) throw new Error(`invalid int64: ${value}`);
    if (value > 0 && value < TWO_POW_32) {
      // Fits the fast path; negative values need the 64-bit two's complement below.
      this.uint32Wide(value);
      return;
    }
    const lo = value >>> 0;
    const hi = Math.floor(value / TWO_POW_32) | 0;
    this.varint64(lo, hi);
  }

  /** A double field, skipped when +0 (toBinary writes -0). */
  double(field: number, value: number): void {
    if (Object.is(value, 0)) return;
    this.tag(field, WIRE_BIT64);
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  /** A bool field, skipped when false. */
  bool(field: number, value: boolean): void {
    if (!value) return;
    this.tag(field, WIRE_VARINT);
    this.ensure(1);
    this.buf[this.pos++] = 1;
  }

  /** Bytes that already are one or more encoded fields. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.byteLength);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.byteLength;
  }

  private tag(field: number, wireType: number): void {
    this.uint32(((field << 3) | wireType) >>> 0);
  }

  private uint32(value: number): void {
    this.ensure(5);
    let v = value;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** An unsigned varint below 2^32 that may not fit a 32-bit int (>>> would wrap it). */
  private uint32Wide(value: number): void {
    this.ensure(5);
    let v = value;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  /** protobuf-es' varint64write. */
  private varint64(lo: number, hi: number): void {
    this.ensure(10);
    for (let i = 0; i < 28; i += 7) {
      const shift = lo >>> i;
      const hasNext = !(shift >>> 7 === 0 && hi === 0);
      this.buf[this.pos++] = (hasNext ? shift | 0x80 : shift) & 0xff;
      if (!hasNext) return;
    }
    const splitBits = ((lo >>> 28) & 0x0f) | ((hi & 0x07) << 4);
    const hasMoreBits = !(hi >> 3 === 0);
    this.buf[this.pos++] = (hasMoreBits ? splitBits | 0x80 : splitBits) & 0xff;
    if (!hasMoreBits) return;
    for (let i = 3; i < 31; i += 7) {
      const shift = hi >>> i;
      const hasNext = !(shift >>> 7 === 0);
      this.buf[this.pos++] = (hasNext ? shift | 0x80 : shift) & 0xff;
      if (!hasNext) return;
    }
    this.buf[this.pos++] = (hi >>> 31) & 0x01;
  }

  private stringValue(value: string): void {
    const n = value.length;
    if (n < 0x80) {
      // Short ASCII (names, ids, subjects, etags): length byte and char codes, no native call.
      this.ensure(n + 1);
      const start = this.pos;
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[start + 1 + i] = c;
      }
      if (i === n) {
        this.buf[start] = n;
        this.pos = start + 1 + n;
        return;
      }
    }
    const length = Buffer.byteLength(value, 'utf8');
    this.uint32(length);
    this.ensure(length);
    this.pos += this.buf.write(value, this.pos, length, 'utf8');
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

function varintSize(value: number): number {
  let size = 1;
  for (let v = value; v > 0x7f; v >>>= 7) size++;
  return size;
}
