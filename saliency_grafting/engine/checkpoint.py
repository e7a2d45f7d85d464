"""Atomic checkpoints with a sha256 checksum beside them, holding everything a run needs to continue exactly.

``save_atomic`` writes ``checkpoint.pt`` through a temporary file and a rename, and its sha256 to
``checkpoint.pt.sha256`` (the ``sha256sum`` format). While the rename happens the checksum file lists the new and the
old digest, so a kill at any point leaves a checkpoint that matches it. ``load_checkpoint`` checks the digest before
unpickling (``weights_only=True``); a checkpoint without a checksum file (written before checksums) loads unchecked.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, cast

import torch

__all__ = ["checksum_path", "clean_orphans", "load_checkpoint", "rng_state", "save_atomic", "set_rng_state", "sha256"]

_CHUNK = 1 << 20


class _HashingWriter:
    """A file wrapper that feeds every written byte to a sha256 as ``torch.save`` writes it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.digest = handle, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def checksum_path(path: str | Path) -> Path:
    """Where the checksum of checkpoint ``path`` lives: ``path`` + ``.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _temporary(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


def _write_text_atomic(text: str, path: Path) -> None:
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _digests(sidecar: Path) -> list[str]:
    """The digests listed in a checksum file (``<hex>  <name>`` per line); empty when there is none."""
    try:
        lines = sidecar.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line.split()[0].lower() for line in lines if line.strip()]


def save_atomic(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` to a temporary file beside ``path`` and rename it over ``path`` (never half-written), with
    its sha256 in ``checksum_path(path)``."""
    path = Path(path)
    sidecar = checksum_path(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = _HashingWriter(handle)
            torch.save(state, cast(BinaryIO, writer))  # a file-like writer, as torch.save takes
            handle.flush()
            os.fsync(handle.fileno())
        new = writer.digest.hexdigest()
        old = _digests(sidecar)[:1] if sidecar.exists() else ([sha256(path)] if path.exists() else [])
        # Both digests while the checkpoint is renamed: a kill before or after the rename leaves a match.
        _write_text_atomic("".join(f"{d}  {path.name}\n" for d in [new, *old]), sidecar)
        os.replace(tmp, path)
        _write_text_atomic(f"{new}  {path.name}\n", sidecar)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clean_orphans(run_dir: str | Path, name: str = "checkpoint.pt") -> list[Path]:
    """Remove the temporary files (``.<name>.*.tmp``) a kill during ``save_atomic`` left in ``run_dir``.

    Call it only when this process owns the run directory (at resume): a live writer's temporary file matches too.
    """
    removed = []
    for orphan in sorted(Path(run_dir).glob(f".{name}.*.tmp")):
        orphan.unlink(missing_ok=True)
        removed.append(orphan)
    return removed


def _reason(err: BaseException) -> str:
    if isinstance(err, pickle.UnpicklingError):
        return "not a tensors-only PyTorch file"
    text = str(err).strip().splitlines()
    return (text[0][:120] if text else "") or type(err).__name__


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save_atomic`` (tensors and plain containers only).

    A ``ValueError`` naming the file when it is missing, does not match its checksum, or cannot be unpickled
    (truncated, empty, garbage).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    expected = _digests(checksum_path(path))
    if expected:
        actual = sha256(path)
        if actual not in expected:
            raise ValueError(
                f"checkpoint {path} is corrupt: its sha256 {actual[:16]}... does not match {checksum_path(path)}"
            )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # a truncated zip, garbage bytes, an unpickling error: torch raises many kinds
        reason = _reason(err)
        raise ValueError(f"checkpoint {path} cannot be loaded, it is truncated or corrupt ({reason})") from None


def rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU and, when present, every CUDA device)."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
