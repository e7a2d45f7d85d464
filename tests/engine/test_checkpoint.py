"""Checkpoints: atomic writes with a sha256 beside them, corruption caught on load, old checkpoints, orphans."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from saliency_grafting.engine import checkpoint as ckpt
from saliency_grafting.engine.checkpoint import checksum_path, clean_orphans, load_checkpoint, save_atomic


def state(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "epoch": seed,
        "model": {"w": torch.randn(64, 64, generator=g), "b": torch.zeros(64)},
        "rng": torch.get_rng_state(),
        "history": [{"loss": 1.5, "mixing": True}],
    }


def same(a: dict, b: dict) -> bool:
    return a["epoch"] == b["epoch"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_save_writes_the_file_and_its_sha256_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_atomic(state(3), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert checksum_path(path).read_text() == f"{digest}  checkpoint.pt\n"  # the sha256sum format
    assert same(load_checkpoint(path), state(3))
    save_atomic(state(4), path)  # overwritten: the checksum follows
    assert same(load_checkpoint(path), state(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "checkpoint.pt.sha256"]


@given(st.lists(st.integers(0, 2**31), min_size=3, max_size=3, unique=True), st.integers(1, 255))
def test_any_three_flipped_bytes_are_caught_and_the_file_named(tmp_path_factory, offsets: list[int], bits: int):
    path = tmp_path_factory.mktemp("flip") / "checkpoint.pt"
    save_atomic(state(), path)
    data = bytearray(path.read_bytes())
    for offset in offsets:
        data[offset % len(data)] ^= bits
    if bytes(data) == path.read_bytes():  # two offsets met and cancelled out
        return
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(f"checkpoint {path} is corrupt")):
        load_checkpoint(path)


def test_a_flipped_weight_byte_would_load_silently_without_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_atomic(state(), path)
    data = bytearray(path.read_bytes())
    weights = state()["model"]["w"].numpy().tobytes()
    at = bytes(data).index(weights[:64]) + 1000  # inside the tensor data of "w"
    for offset in (at, at + 1, at + 2):
        data[offset] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is corrupt"):
        load_checkpoint(path)
    checksum_path(path).unlink()  # an old checkpoint: no checksum to check, so the damage goes through
    assert not torch.equal(load_checkpoint(path)["model"]["w"], state()["model"]["w"])


def test_checkpoints_written_before_checksums_still_load(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    torch.save(state(2), path)
    assert same(load_checkpoint(path), state(2))
    save_atomic(state(5), path)  # the first checked save over an old one
    assert same(load_checkpoint(path), state(5)) and checksum_path(path).exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"garbage" * 100], ids=["empty", "zip", "junk"])
def test_unreadable_checkpoints_are_a_value_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"checkpoint {path} cannot be loaded")) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)
    save_atomic(state(), path)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, its checksum beside it
    with pytest.raises(ValueError, match=re.escape(f"checkpoint {path} is corrupt")):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_damaged_checksum_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_atomic(state(), path)
    checksum_path(path).write_text("0" * 64 + "  checkpoint.pt\n")
    with pytest.raises(ValueError, match=re.escape("checkpoint.pt.sha256")):
        load_checkpoint(path)


@pytest.mark.parametrize("killed_at", [1, 2, 3])
def test_a_kill_at_any_rename_leaves_a_checkpoint_that_matches(tmp_path: Path, monkeypatch, killed_at: int) -> None:
    """os.replace runs three times: the checksum file listing both digests, the checkpoint, the final checksum."""
    path = tmp_path / "checkpoint.pt"
    save_atomic(state(1), path)
    calls = []
    real = os.replace

    def replace(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == killed_at:
            raise KeyboardInterrupt  # the process dies here
        real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        save_atomic(state(2), path)
    monkeypatch.setattr(ckpt.os, "replace", real)
    expected = state(1) if killed_at <= 2 else state(2)
    assert same(load_checkpoint(path), expected)


def test_clean_orphans_removes_only_the_temporary_checkpoint_files(tmp_path: Path) -> None:
    orphans = [tmp_path / ".checkpoint.pt.abc123.tmp", tmp_path / ".checkpoint.pt.sha256.x9.tmp"]
    kept = [tmp_path / "checkpoint.pt", tmp_path / "notes.tmp", tmp_path / ".other.pt.a.tmp"]
    for p in orphans + kept:
        p.write_bytes(b"x")
    assert sorted(clean_orphans(tmp_path)) == sorted(orphans)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in orphans)
    assert clean_orphans(tmp_path) == []
