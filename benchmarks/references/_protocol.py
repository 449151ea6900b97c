"""The framed protocol between the bridge (our Python) and the worker (the reference venv).

Standard library only: both sides import it, under different Python versions.

Every message is two frames, each an 8-byte little-endian length followed by that many bytes:
a UTF-8 JSON header (a dict with a ``"type"``) and a binary payload (possibly empty).

Messages, in order:

- parent -> worker ``{"type": "run", "method", "n", "budget", "seed", "max_order",
  "options"}``, empty payload;
- worker -> parent, any number of ``{"type": "query", "m": m, "n": n}`` with ``m * n`` bytes,
  the masks as C-ordered uint8 rows (1 = component kept), each answered by parent -> worker
  ``{"type": "values", "m": m}`` with ``m`` little-endian float64 values;
- worker -> parent, last: ``{"type": "result", ...}`` or ``{"type": "error", ...}``, empty
  payload.
"""

from __future__ import annotations

import json
import struct

_LENGTH = struct.Struct("<Q")


def write_message(stream, header: dict, payload: bytes = b"") -> None:
    """Write one message (JSON header + binary payload) and flush."""
    head = json.dumps(header, allow_nan=True).encode("utf-8")
    stream.write(_LENGTH.pack(len(head)) + head + _LENGTH.pack(len(payload)))
    if payload:
        stream.write(payload)
    stream.flush()


def read_message(stream) -> tuple[dict, bytes]:
    """Read one message; ``EOFError`` when the other side closed the stream."""
    head = _read_frame(stream)
    payload = _read_frame(stream)
    return json.loads(head.decode("utf-8")), payload


def _read_frame(stream) -> bytes:
    (length,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size))
    return _read_exact(stream, length)


def _read_exact(stream, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError(f"stream closed with {left} of {size} bytes unread")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
