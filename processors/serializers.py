"""Serializers for the processor's routed outputs.

Every stage emits `{"k": kind, "key": ..., "row": {...}}` records and one `to_topic` call
routes them by kind (no branching, so no per-record copies). Output topics carry only the
`row`: `RowSerializer` writes `value["row"]` as JSON, so consumers see the clean contract of
`pulse.outputs`.
"""

from __future__ import annotations

from typing import Any

import orjson
from quixstreams.models.serializers import SerializationContext, Serializer


class RowSerializer(Serializer):
    def __call__(self, value: Any, ctx: SerializationContext) -> bytes:
        return orjson.dumps(value["row"])
