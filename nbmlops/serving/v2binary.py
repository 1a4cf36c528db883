"""Triton's binary tensor extension to KServe V2 (what ``tritonclient`` sends by default).

A request may carry its tensors as raw bytes after the JSON header: the header's length
is in ``Inference-Header-Content-Length`` and each such input says
``"parameters": {"binary_data_size": N}`` instead of giving ``data``. A response carries
an output as bytes when the request asks (``"binary_data": true`` on the output, or
``"binary_data_output": true`` on the request). Tensors are little-endian, row-major;
BYTES elements are a 4-byte little-endian length followed by the bytes.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from nbmlops.serving.validation import PayloadError, short_repr

HEADER = "inference-header-content-length"
_DTYPES = {"BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
           "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2",
           "FP32": "<f4", "FP64": "<f8"}


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """Return (JSON header, binary tail) of a request; the tail is empty without the header."""
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise PayloadError(f"bad Inference-Header-Content-Length {short_repr(header_length)}: "
                           f"it must be the byte length of the JSON header (the body has "
                           f"{len(body)} bytes)")
    n = int(header_length)
    return body[:n], body[n:]


def decode_inputs(request: dict[str, Any], tail: bytes) -> None:
    """Replace each binary input's ``binary_data_size`` by its decoded ``data`` (in place)."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list):
        return  # columns_from_v2 says what is wrong
    offset = 0
    for i, t in enumerate(inputs):
        params = t.get("parameters") if isinstance(t, dict) else None
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 \
                or offset + size > len(tail):
            raise PayloadError(f"inputs[{i}]: binary_data_size {short_repr(size)} does not fit "
                               f"the {len(tail) - offset} bytes left after the JSON header")
        if "data" in t:
            raise PayloadError(f"inputs[{i}] gives both data and binary_data_size; send one")
        t["data"] = _decode(tail[offset:offset + size], t.get("datatype"), i)
        offset += size
    if offset != len(tail):
        raise PayloadError(f"the body has {len(tail) - offset} bytes after the JSON header and "
                           "the binary inputs; binary_data_size must account for every byte")


def _decode(raw: bytes, datatype: Any, i: int) -> list[Any]:
    if datatype == "BYTES":
        return _decode_bytes(raw, i)
    if not isinstance(datatype, str) or datatype not in _DTYPES:
        raise PayloadError(f"inputs[{i}]: binary data needs a datatype among "
                           f"{', '.join(sorted([*_DTYPES, 'BYTES']))}; got {short_repr(datatype)}")
    dtype = np.dtype(_DTYPES[datatype])
    if len(raw) % dtype.itemsize:
        raise PayloadError(f"inputs[{i}]: {len(raw)} bytes is not a whole number of "
                           f"{datatype} values ({dtype.itemsize} bytes each)")
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def _decode_bytes(raw: bytes, i: int) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise PayloadError(f"inputs[{i}]: BYTES data ends inside an element's length")
        (n,) = struct.unpack_from("<I", raw, pos)
        item = raw[pos + 4:pos + 4 + n]
        if len(item) != n:
            raise PayloadError(f"inputs[{i}]: a BYTES element of {n} bytes runs past the data")
        try:
            out.append(item.decode())
        except UnicodeDecodeError:
            raise PayloadError(f"inputs[{i}]: BYTES element {len(out)} is not UTF-8 text") \
                from None
        pos += 4 + n
    return out


def binary_outputs(request: dict[str, Any], names: list[str]) -> set[str]:
    """Return the output names the request wants as binary data."""
    params = request.get("parameters")
    default = isinstance(params, dict) and params.get("binary_data_output") is True
    wanted = {n: default for n in names}
    for o in request.get("outputs") or ():
        p = o.get("parameters") if isinstance(o, dict) else None
        if isinstance(p, dict) and isinstance(p.get("binary_data"), bool) and o["name"] in wanted:
            wanted[o["name"]] = p["binary_data"]
    return {n for n, b in wanted.items() if b}


def encode_output(arr: np.ndarray, datatype: str) -> bytes:
    """Return the binary form of one output tensor."""
    if datatype == "BYTES":
        parts = []
        for v in arr.ravel().tolist():
            b = v if isinstance(v, bytes) else str(v).encode()
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    return np.ascontiguousarray(arr, dtype=np.dtype(_DTYPES[datatype])).tobytes()
