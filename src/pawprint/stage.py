"""What every stage entry point shares: one-line errors, seeding, the variant argument, the params a stage
tracks, and atomic JSON outputs. The common body of the training stages is `training_stage.py`, so the stages
that do not train import nothing of Lightning.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pawprint import config
from pawprint.errors import PawprintError
from pawprint.paths import atomic_path


def main(fn: Callable[[config.Params], None]) -> Callable[[], None]:
    """Run `fn` on validated params; any PawprintError becomes one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper() -> None:
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        try:
            params = config.load(os.environ.get("PAWPRINT_PARAMS", "params.yaml"))
            seed_all(params.seed)
            fn(params)
        except PawprintError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def seed_all(seed: int) -> None:
    """Seed before anything random happens, model initialisation included (stages build models first)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def arguments(*required: str, **optional: str | None) -> argparse.Namespace:
    """What one variant of a stage script gets from dvc.yaml (`--name value` each): what differs between the
    variants lives in the pipeline file, not in branches of the stage."""
    parser = argparse.ArgumentParser(prog=f"python {sys.argv[0]}")
    for name in required:
        parser.add_argument(f"--{name}", required=True)
    for name, default in optional.items():
        parser.add_argument(f"--{name}", default=default)
    return parser.parse_args()


def argument(choices: list[str], what: str) -> str:
    """The variant a foreach stage runs (`python stages/x.py <name>`), checked against params."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in choices:
        raise PawprintError(f"{what} {name!r} is not in params.yaml; known: {', '.join(choices)} (see dvc.yaml)")
    return name


def select(params: config.Params, *keys: str) -> dict[str, Any]:
    """The dotted params a stage depends on (a key names a value or a whole section)."""
    flat = config.flatten(params)
    return {k: v for k, v in flat.items() if any(k == key or k.startswith(key + ".") for key in keys)}


def write_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
