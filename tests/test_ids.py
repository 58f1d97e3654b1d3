"""Resource ids: UUIDs in the version 7 layout (time first), written the standard way."""

from __future__ import annotations

import time
import uuid

from telcrm.kit.ids import new_id


def test_new_ids_are_version_7_uuids_in_time_order() -> None:
    before = int(time.time() * 1000)
    ids = [new_id() for _ in range(2000)]
    after = int(time.time() * 1000)
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case hex, dashes at 8-4-4-4-12
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after  # the first 48 bits are the time in ms
    stamps = [uuid.UUID(t).int >> 80 for t in ids]
    assert stamps == sorted(stamps)
