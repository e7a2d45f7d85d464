"""Run keys are the records' identity: the keys of every existing cell are pinned to those of commit 43f2ac8."""

from __future__ import annotations

import hashlib

import pytest

from saliency_grafting.experiments import plan, run_key

# sha256 of the sorted run keys (3 seeds) of each experiment, computed with the code of commit 43f2ac8, the commit
# whose records the background suite is writing: a change to a cell's config, to run_key, or to a new config field's
# default would orphan them.
PINNED = {
    ("table1", "cpu"): ("793a18386ac9ad00", 48),
    ("table2", "cpu"): ("a3cb4c98c0911afc", 24),
    ("table3", "cpu"): ("02b4ccb91cb8f6b7", 18),
    ("table4", "cpu"): ("cd1795a362e08a0e", 21),
    ("table5", "cpu"): ("608a78ab079bf621", 75),  # 250 per class at 66 epochs (no 44-epoch record of it existed)
    ("table6", "cpu"): ("b9271a702e5aaa45", 15),
    ("table7", "cpu"): ("d368109820051570", 9),
    ("fig3", "cpu"): ("8b544c8ab8a9b235", 18),
    ("fig4", "cpu"): ("8f0419ffbbe72e41", 30),
    ("recipe", "cpu"): ("193123b3cbafd5b4", 18),
    ("wallclock", "cpu"): ("f6d50b6e38dfe163", 15),
    ("table1", "cpu-small"): ("3c8521f449e7184a", 45),
    ("table2", "cpu-small"): ("4206c451031e1620", 24),
    ("table3", "cpu-small"): ("c62c0cc2a0dc4d39", 18),
    ("table4", "cpu-small"): ("835386d122449f65", 21),
    ("table5", "cpu-small"): ("d84354667bc0087e", 45),
    ("table6", "cpu-small"): ("28778a89e830aeac", 15),
    ("table7", "cpu-small"): ("c63f7344f4cf9b3b", 9),
    ("fig3", "cpu-small"): ("771fe622002f7b84", 24),
    ("fig4", "cpu-small"): ("51b55faac17e532e", 30),
    ("recipe", "cpu-small"): ("fd0c054f9728a10d", 18),
    ("sweep", "cpu-small"): ("10ab5e044d21f52e", 36),
    ("table1", "paper"): ("808c9fceb0e77a6b", 45),
    ("table5", "paper"): ("3a7c4b8c66702519", 45),
    ("fig3", "paper"): ("649752bb3b800819", 36),
}


# Cells added to an experiment after its keys were pinned: (experiment, family) -> the protocol of the new cells.
ADDED = {("table3", "cpu"): "same compute"}


@pytest.mark.parametrize(("name", "scale"), list(PINNED))
def test_existing_cells_keep_their_run_keys(name: str, scale: str) -> None:
    added = ADDED.get((name, scale))
    keys = sorted(
        run_key(config.to_dict())
        for cell, seed, config in plan(name, scale, 3, "/data")
        if seed < 3 and (added is None or cell.protocol != added)
    )
    assert (hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16], len(keys)) == PINNED[(name, scale)]


def test_table3s_same_compute_cells_are_table5s_on_cifar10() -> None:
    """Vanilla, Mixup, PuzzleMix and SG at equal sample passes: on the cpu scale the runs Table 5 already has (no
    retraining); the two-pass PuzzleMix and SG are their own paper cells."""
    cells = plan("table3", "cpu", 3, "/data")
    ours = {run_key(c.to_dict()) for cell, _, c in cells if cell.protocol == "same compute"}
    paper = {run_key(c.to_dict()) for cell, _, c in cells if cell.protocol == "paper"}
    table5 = {run_key(c.to_dict()) for cell, _, c in plan("table5", "cpu", 3, "/data")}
    assert len(ours) == 12 and ours <= table5 and len(ours & paper) == 6


def test_only_the_250_per_class_cells_of_table5_changed_key() -> None:
    keys = [run_key(c.to_dict()) for cell, _, c in plan("table5", "cpu", 3, "/data") if cell.column[:3] != "250"]
    assert hashlib.sha256(" ".join(sorted(keys)).encode()).hexdigest()[:16] == "0278bbe7f6c4804a"


def test_single_keys_of_records_being_written() -> None:
    first = {(c.row, c.column, s): run_key(cfg.to_dict()) for c, s, cfg in plan("wallclock", "cpu", 2, "/data")}
    assert first[("Vanilla", "100 · paper", 0)] == "6ce58dbab226"
    assert first[("Saliency Grafting", "100 · paper", 1)] == "9e8fdc949cc3"
    small = {(c.row, s): run_key(cfg.to_dict()) for c, s, cfg in plan("table1", "cpu-small", 1, "/data")}
    assert small[("Vanilla", 0)] == "4df319beb561"


def test_new_fields_at_their_old_value_leave_the_key_alone() -> None:
    (_, _, config), *_ = plan("table5", "cpu", 1, "/data")
    values = config.to_dict()
    assert values["val_per_class"] is None
    old = {k: v for k, v in values.items() if k != "val_per_class"}  # a record made before the field existed
    assert run_key(old) == run_key(values)
    assert run_key({**values, "val_per_class": 100}) != run_key(values)
