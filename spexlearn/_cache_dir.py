"""Where spexlearn keeps what it can rebuild: BCH codes, de-quantized models."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_cache_dir"]


def user_cache_dir() -> Path:
    """``$SPEXLEARN_CACHE_DIR``, else ``$XDG_CACHE_HOME/spexlearn``, else
    ``~/.cache/spexlearn`` (not created here)."""
    root = os.environ.get("SPEXLEARN_CACHE_DIR")
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        root = os.path.join(base, "spexlearn")
    return Path(root)
