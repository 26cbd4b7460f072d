#!/usr/bin/env python3
"""An independent reader of TensorBoard event files, for testing trainer/tb_writer.c.

No tensorboard or protobuf package is needed (none is installed): the TFRecord framing, the
CRC-32C (bitwise, not the C table) and the protobuf wire format are decoded by hand here.

  read_events.py FILE                       print every event as one JSON line
  read_events.py FILE --expect EXPECT.json  also compare with the expected records (exit 1 if not)
  --quiet                                   print nothing but errors

Every record must have a correct masked CRC of its length and of its data, and the file must
end exactly after a record; every field of Event, Summary, Summary.Value, Summary.Image and
SessionLog must be one this writer may write, with the right wire type. Any violation exits 1.

EXPECT.json: {"wall_time_min": s, "wall_time_max": s, "records": [
  {"kind": "version"} |
  {"kind": "scalar", "tag": t, "value": v, "step": n} |   (value compared as float32, NaN = NaN)
  {"kind": "image", "tag": t, "step": n, "height": h, "width": w, "channels": c,
   "png_file": exact PNG bytes, "pixels_file": raw [h, w, c] uint8 PIL must decode to} |
  {"kind": "session_start", "step": n} ]}
"""
import hashlib
import io
import json
import math
import struct
import sys


class BadFile(Exception):
    pass


# ---- CRC-32C (Castagnoli), bit by bit: deliberately not the table the C code uses -----------

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def read_records(blob):
    """Yields the data of each TFRecord, checking both masked CRCs."""
    pos, index = 0, 0
    while pos < len(blob):
        if len(blob) - pos < 12:
            raise BadFile(f"record {index}: {len(blob) - pos} trailing bytes, a torn header")
        head = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", head)
        (len_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        if len_crc != masked_crc(head):
            raise BadFile(f"record {index} at byte {pos}: length CRC {len_crc:08x}, "
                          f"expected {masked_crc(head):08x}")
        end = pos + 12 + length + 4
        if end > len(blob):
            raise BadFile(f"record {index}: {length} data bytes run past the end of the file")
        data = blob[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", blob[end - 4:end])
        if data_crc != masked_crc(data):
            raise BadFile(f"record {index} at byte {pos}: data CRC {data_crc:08x}, "
                          f"expected {masked_crc(data):08x}")
        yield data
        pos, index = end, index + 1


# ---- protobuf wire format ------------------------------------------------------------------

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def read_varint(buf, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise BadFile("varint runs past the end of its message")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
        if shift >= 70:
            raise BadFile("varint longer than 10 bytes")


def fields(buf):
    """Yields (field number, wire type, value) with value an int (varint), bytes (length-
    delimited) or the raw 4/8 bytes (fixed32/fixed64)."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == FIXED64:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == FIXED32:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == LEN:
            n, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:
            raise BadFile(f"field {num}: wire type {wire} is not used by these messages")
        if pos > len(buf):
            raise BadFile(f"field {num} runs past the end of its message")
        yield num, wire, value


def int64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def decode(buf, schema, what):
    """Decodes a message with schema {number: (name, wire, kind)}; unknown numbers and wrong
    wire types are errors. kind: int, double, float, str, bytes, or a (schema, name) pair for a
    nested message; repeated fields collect into lists."""
    out = {}
    for num, wire, value in fields(buf):
        if num not in schema:
            raise BadFile(f"{what}: unexpected field {num}")
        name, want_wire, kind, repeated = schema[num]
        if wire != want_wire:
            raise BadFile(f"{what}.{name}: wire type {wire}, expected {want_wire}")
        if kind == "int":
            value = int64(value)
        elif kind == "double":
            (value,) = struct.unpack("<d", value)
        elif kind == "float":
            (value,) = struct.unpack("<f", value)
        elif kind == "str":
            value = value.decode("utf-8")
        elif kind == "bytes":
            value = bytes(value)
        else:
            value = decode(value, kind[0], f"{what}.{name}")
        if repeated:
            out.setdefault(name, []).append(value)
        elif name in out:
            raise BadFile(f"{what}.{name} appears twice")
        else:
            out[name] = value
    return out


IMAGE = {1: ("height", VARINT, "int", False), 2: ("width", VARINT, "int", False),
         3: ("colorspace", VARINT, "int", False),
         4: ("encoded_image_string", LEN, "bytes", False)}
VALUE = {1: ("tag", LEN, "str", False), 2: ("simple_value", FIXED32, "float", False),
         4: ("image", LEN, (IMAGE,), False)}
SUMMARY = {1: ("value", LEN, (VALUE,), True)}
SESSION_LOG = {1: ("status", VARINT, "int", False), 2: ("checkpoint_path", LEN, "str", False),
               3: ("msg", LEN, "str", False)}
EVENT = {1: ("wall_time", FIXED64, "double", False), 2: ("step", VARINT, "int", False),
         3: ("file_version", LEN, "str", False), 5: ("summary", LEN, (SUMMARY,), False),
         7: ("session_log", LEN, (SESSION_LOG,), False)}


def read_events(path):
    with open(path, "rb") as f:
        blob = f.read()
    return [decode(data, EVENT, f"record {i}: Event")
            for i, data in enumerate(read_records(blob))]


# ---- comparison with the expectation --------------------------------------------------------

def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_image(img, want):
    from PIL import Image
    import numpy as np
    errors = []
    for key, field in (("height", "height"), ("width", "width"), ("channels", "colorspace")):
        if img.get(field) != want[key]:
            errors.append(f"{field} {img.get(field)}, expected {want[key]}")
    png = img.get("encoded_image_string", b"")
    with open(want["png_file"], "rb") as f:
        if png != f.read():
            errors.append("encoded_image_string differs from the PNG the writer was given")
    im = Image.open(io.BytesIO(png))
    im.load()
    mode = {1: "L", 3: "RGB"}[want["channels"]]
    if im.format != "PNG" or im.mode != mode or im.size != (want["width"], want["height"]):
        errors.append(f"PIL reads {im.format} {im.mode} {im.size}")
    else:
        pix = np.fromfile(want["pixels_file"], dtype=np.uint8)
        if not np.array_equal(np.asarray(im).reshape(-1), pix):
            errors.append("decoded pixels differ")
    return errors


def check_event(ev, want, lo, hi):
    errors = []
    wt = ev.get("wall_time")
    if wt is None or not lo <= wt <= hi:
        errors.append(f"wall_time {wt} outside [{lo}, {hi}]")
    kind = want["kind"]
    step = ev.get("step", 0)  # proto3: absent = 0
    if kind == "version":
        if ev.get("file_version") != "brain.Event:2" or "summary" in ev:
            errors.append(f"not the file_version event: {ev}")
        return errors
    if step != want["step"]:
        errors.append(f"step {step}, expected {want['step']}")
    if kind == "session_start":
        if ev.get("session_log", {}).get("status") != 1:
            errors.append(f"session_log {ev.get('session_log')}, expected status START (1)")
        return errors
    values = ev.get("summary", {}).get("value", [])
    if len(values) != 1:
        return errors + [f"{len(values)} summary values, expected 1"]
    v = values[0]
    if v.get("tag") != want["tag"]:
        errors.append(f"tag {v.get('tag')!r}, expected {want['tag']!r}")
    if kind == "scalar":
        if "simple_value" not in v or "image" in v:
            errors.append("not a simple_value")
        elif not same_float(v["simple_value"], f32(want["value"])):
            errors.append(f"simple_value {v['simple_value']!r}, expected float32 "
                          f"{f32(want['value'])!r}")
    elif kind == "image":
        if "image" not in v or "simple_value" in v:
            errors.append("not an image")
        else:
            errors += check_image(v["image"], want)
    else:
        errors.append(f"unknown expected kind {kind}")
    return errors


def printable(ev):
    """The event with image bytes replaced by their size and SHA-256 (for printing)."""
    ev = json.loads(json.dumps(ev, default=lambda b: {"bytes": len(b),
                                                      "sha256": hashlib.sha256(b).hexdigest()}))
    return ev


def main(argv):
    quiet = "--quiet" in argv
    args = [a for a in argv if a != "--quiet"]
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--expect"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        events = read_events(args[0])
    except (BadFile, UnicodeDecodeError) as exc:
        print(f"read_events: {args[0]}: {exc}", file=sys.stderr)
        return 1
    if not quiet:
        for ev in events:
            print(json.dumps(printable(ev)))
    if len(args) == 1:
        return 0
    with open(args[2]) as f:
        expect = json.load(f)
    records = expect["records"]
    errors = []
    if len(events) != len(records):
        errors.append(f"{len(events)} records, expected {len(records)}")
    for i, (ev, want) in enumerate(zip(events, records)):
        errors += [f"record {i} ({want['kind']}): {msg}"
                   for msg in check_event(ev, want, expect["wall_time_min"],
                                          expect["wall_time_max"])]
    for msg in errors:
        print(f"read_events: {args[0]}: {msg}", file=sys.stderr)
    if not quiet:
        print(f"read_events: {len(events)} records, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
