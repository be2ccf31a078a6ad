"""JSON on the wire between kiosk and central store: orjson when installed (parses and
writes the big upload batches several times faster), the standard library otherwise. Only
the transport uses it; the hash chain is always computed by kiosk.core.event, so the two
give the same verdict on every event."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - a kiosk image without the wheel
    orjson = None  # type: ignore[assignment]

#: ``orjson`` is None without the wheel; kiosk.server.ingest also hashes with it when present
__all__ = ["dumps", "loads", "orjson"]


def dumps(obj: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(obj)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """Parse; raises ValueError on anything that is not JSON."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)
