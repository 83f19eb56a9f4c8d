"""Where the evaluation data is: --eval-dir, else $FPWATCH_EVAL_DIR, else ../shared/eval beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def eval_dir(given: str | None = None) -> Path:
    """The evaluation data folder (benches skip cleanly when it does not exist)."""
    return Path(given or os.environ.get("FPWATCH_EVAL_DIR") or REPO.parent / "shared" / "eval")
