"""Read the records of an offline W&B run file (``run-*.wandb``) for assertions in tests.

The file is a 7-byte header then a LevelDB-style log: 32 KiB blocks of records, each with a 7-byte
header (crc32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last) and a protobuf
``Record`` payload.

W&B's service process writes the file on its own; on a loaded machine it may still be writing
when ``wandb.finish()`` has returned, so :func:`read_records` waits for the run's exit record.
"""

import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7


def read_records(path: Path, timeout: float = 60.0) -> list[wandb_internal_pb2.Record]:
    """The records of a finished run: read again until its exit record is there (at most
    ``timeout`` seconds; then whatever the file holds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            records = _parse(path)
        except Exception:  # a record still being written
            records = []
        finished = any(r.WhichOneof("record_type") == "exit" for r in records)
        if finished or time.monotonic() > deadline:
            return records or _parse(path)
        time.sleep(0.2)


def _parse(path: Path) -> list[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    records, pos, pending = [], HEADER, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # too little room left in the block: padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        payload = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def run_contents(path: Path) -> dict[str, object]:
    """Config keys, history/summary metric keys, and the run's group, of one offline run."""
    config, metrics, group = set(), set(), None
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "config":
            config |= {u.key for u in record.config.update}
        elif kind == "history":
            metrics |= {i.key or "/".join(i.nested_key) for i in record.history.item}
        elif kind == "summary":
            metrics |= {u.key or "/".join(u.nested_key) for u in record.summary.update}
        elif kind == "run":
            group = record.run.run_group or None
            config |= {u.key for u in record.run.config.update}
    return {"config": config, "metrics": metrics, "group": group}
