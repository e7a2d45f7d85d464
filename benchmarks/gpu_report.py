"""The GPU check's results (``gpu_check.py``): JUnit counts, environment, failures, markdown and the short table."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import torch

__all__ = ["environment", "failures", "parse_junit", "render_markdown", "summary_table"]

SHORT_NAMES = {
    "saliency_grafting": "SG",
    "saliency_grafting (grafted only)": "SG grafted only",
    "puzzlemix": "PuzzleMix",
    "manifold_mixup": "Manifold Mixup",
    "cutmix": "CutMix",
}


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts and failing test ids of a pytest ``--junitxml`` report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    failing = [
        "::".join(filter(None, (case.get("classname"), case.get("name"))))
        for s in suites
        for case in s.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {
        "passed": passed,
        "failed": counts["failures"],
        "errors": counts["errors"],
        "skipped": counts["skipped"],
        "failing": failing,
    }


def environment(device: torch.device, dry: bool, root: Path) -> dict[str, Any]:
    """Versions, device, git commit and command line of the run."""
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False)
    info = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "dry_run": dry,
        "git_commit": git.stdout.strip() or None,
        "command": " ".join(sys.argv),
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    if dry:
        info["note"] = (
            "dry run on the CPU: tiny sizes; CUDA tests skipped, no sync-debug mode, perf_counter "
            "instead of CUDA events; ResNet-50 at 64 px instead of 224"
        )
    return info


def failures(results: dict[str, Any]) -> list[str]:
    """What makes the check fail: failing CUDA tests, a synchronising step, any item that errored."""
    found = []
    tests = results.get("cuda_tests", {})
    if tests.get("failed") or tests.get("errors") or "error" in tests:
        found.append(f"CUDA tests: {tests.get('failing') or tests.get('error')}")
    found += [
        f"sync: {r['method']} {r['status']} at {r.get('op')}"
        for r in results.get("sync", [])
        if r["status"] in ("raise", "error")
    ]
    found += [
        f"throughput: {r['model']} {r['method']}: {r['error']}" for r in results.get("throughput", []) if "error" in r
    ]
    found += [
        f"training: {r['method']}: {r['error']}" for r in results.get("training", {}).get("rows", []) if "error" in r
    ]
    return found


def _num(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _tests_line(tests: dict[str, Any]) -> str:
    if not tests:
        return "not run"
    if "error" in tests:
        return f"pytest did not report: {tests['error'].strip().splitlines()[-1][:120]}"
    if "missing" in tests:
        return f"skipped: {' and '.join(tests['missing'])} not installed"
    if tests.get("timed_out"):
        return "timed out"
    line = f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, {tests['skipped']} skipped"
    return line + (f" ({tests['note']})" if "note" in tests else "")


def _sync_line(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "not run"
    passed = [r for r in rows if r["status"] == "pass"]
    bad = [f"{r['method']} {r['status']}s at `{r.get('op')}`" for r in rows if r["status"] in ("raise", "error")]
    if not passed and not bad:
        return f"{len(rows)} methods ran; the sync check itself needs CUDA"
    return f"{len(passed)}/{len(rows)} methods make no host sync" + ("; " + "; ".join(bad) if bad else "")


def _throughput_lines(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        vanilla = next((r for r in mine if r["method"] == "vanilla" and "images_per_s" in r), None)
        parts = [f"vanilla {vanilla['images_per_s']:.0f} img/s"] if vanilla else []
        parts += [
            f"{SHORT_NAMES.get(r['method'], r['method'])} {r['images_ratio']:.2f}×"
            for r in mine
            if r["method"] != "vanilla" and "images_ratio" in r
        ]
        parts += [f"{SHORT_NAMES.get(r['method'], r['method'])} error" for r in mine if "error" in r]
        lines.append((f"step, {model} {mine[0]['image_size']} px, batch {mine[0]['batch']}", ", ".join(parts)))
    return lines


def _training_line(training: dict[str, Any]) -> tuple[str, str] | None:
    rows = training.get("rows") if training else None
    if not rows:
        return None
    parts = [
        f"{SHORT_NAMES.get(r['method'], r['method'])} {_num(r.get('test_top1_error'), 2)} % "
        f"({_num(r.get('wall_seconds'), 0)} s)"
        for r in rows
    ]
    return f"test error, {training['model']} {training['epochs']} epochs", ", ".join(parts)


def summary_table(results: dict[str, Any]) -> str:
    """The short table the check prints last: one row per phase (one per model for the throughput)."""
    rows = [("CUDA tests", _tests_line(results.get("cuda_tests", {})))]
    rows.append(("no host sync", _sync_line(results.get("sync", []))))
    rows += _throughput_lines(results.get("throughput", []))
    training = _training_line(results.get("training", {}))
    if training is not None:
        rows.append(training)
    rows.append(("verdict", "FAILED: " + "; ".join(results["failures"]) if results.get("failures") else "ok"))
    env = results.get("environment", {})
    head = f"GPU check: {env.get('device')}, torch {env.get('torch')}{' (dry run)' if env.get('dry_run') else ''}"
    return "\n".join([head, "", "| check | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]) + "\n"


def render_markdown(results: dict[str, Any]) -> str:
    """Every number of the run as markdown: environment, CUDA tests, sync check, throughput, training, skips."""
    env = results.get("environment", {})
    out = ["# GPU check results", ""]
    out += [f"- {key}: {value}" for key, value in env.items()]
    out += ["", "## CUDA tests", "", _tests_line(results.get("cuda_tests", {}))]
    failing = results.get("cuda_tests", {}).get("failing")
    out += [f"- failing: `{name}`" for name in failing or []]
    out += ["", "## No host synchronisation", "", "| method | status | op |", "|---|---|---|"]
    out += [f"| {r['method']} | {r['status']} | {r.get('op', '')} |" for r in results.get("sync", [])]
    out += [
        "",
        "## Step throughput",
        "",
        "bf16 autocast, channels-last; median step time after warm-up.",
        "",
        "| model | px | method | ms / step | wall ms / step | images/s | samples/s | images ÷ vanilla "
        "| samples ÷ vanilla | steps |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.get("throughput", []):
        if "error" in r:
            out.append(f"| {r['model']} | {r['image_size']} | {r['method']} | error: {r['error']} | | | | | | |")
            continue
        out.append(
            f"| {r['model']} | {r['image_size']} | {r['method']} | {r['ms_per_step']:.2f} | "
            f"{r['wall_ms_per_step']:.2f} | {r['images_per_s']:.0f} | {r['samples_per_s']:.0f} | "
            f"{_num(r.get('images_ratio'), 2)} | {_num(r.get('samples_ratio'), 2)} | {r['steps']} |"
        )
    training = results.get("training", {})
    out += ["", "## Short training", ""]
    if training.get("rows"):
        out += [
            f"{training['model']} on {training['dataset']} ({training['train_images']} images), "
            f"{training['epochs']} epochs, batch {training['batch']}, SG warm-up {training['sg_warmup_epochs']} "
            f"epoch(s); data loaded in {training['load_seconds']:.0f} s.",
            "",
            "| method | test top-1 error % | top-5 % | train s | wall s | images/s | samples/s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {r['method']} | {_num(r.get('test_top1_error'), 2)} | {_num(r.get('test_top5_error'), 2)} | "
            f"{_num(r.get('train_seconds'))} | {_num(r.get('wall_seconds'))} | {_num(r.get('images_per_s'), 0)} | "
            f"{_num(r.get('samples_per_s'), 0)} |" + (f" error: {r['error']}" if "error" in r else "")
            for r in training["rows"]
        ]
    else:
        out.append("not run")
    out += ["", "## Skipped", ""]
    out += [f"- {s['phase']} / {s['item']}: {s['reason']}" for s in results.get("skipped", [])] or ["nothing"]
    out += ["", f"Seconds per phase: {results.get('phase_seconds', {})}", ""]
    return "\n".join(out) + "\n"
