#!/usr/bin/env bash
# The GPU check in one command, on a fresh CUDA machine holding only this repository (docs/gpu.md):
#   bash benchmarks/gpu_check.sh --data ../shared/data/cifar10-jpg.tar.gz --out gpu-results
# installs what is missing, unpacks the CIFAR-10 JPEG archive into .gpu-data/ (ignored by git), then runs
# benchmarks/gpu_check.py within the time budget (default 480 s in all). --dry-run: the same on the CPU, tiny sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: bash benchmarks/gpu_check.sh --out DIR [--data ARCHIVE_OR_DIR] [--budget SECONDS] [--dry-run]" \
        "[--wheels DIR] [--phases PHASE...]" >&2
    exit 2
}

OUT="" DATA="" BUDGET=480 DRY=() WHEELS="" PHASES=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) [[ $# -ge 2 ]] || usage; OUT="$2"; shift 2 ;;
        --data) [[ $# -ge 2 ]] || usage; DATA="$2"; shift 2 ;;
        --budget) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || usage; BUDGET="$2"; shift 2 ;;
        --wheels) [[ $# -ge 2 ]] || usage; WHEELS="$2"; shift 2 ;;
        --dry-run) DRY=(--dry-run); shift ;;
        --phases) shift; while [[ $# -gt 0 && "$1" != --* ]]; do PHASES+=("$1"); shift; done ;;
        -h|--help) usage ;;
        *) echo "gpu_check.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ -n "$OUT" ]] || { echo "gpu_check.sh: --out DIR is required" >&2; usage; }
START=$SECONDS
PY=python
command -v python >/dev/null 2>&1 || PY=python3

# -- install: torch only if missing; the library with PuzzleMix's graph cuts and the tests' needs --------------
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=20 PIP_RETRIES=1  # fail fast when offline
PIP=("$PY" -m pip install -q)
[[ -n "$WHEELS" ]] && PIP+=(--find-links "$WHEELS")
pip_install() { timeout 240 "${PIP[@]}" "$@"; }
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "[install] torch is missing: installing torch and torchvision"
    timeout 900 "${PIP[@]}" torch torchvision || { echo "[install] cannot install torch: install it, rerun" >&2; exit 1; }
fi
# Pin the installed torch, so that resolving torchvision or the extras never replaces it.
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
"$PY" -c "import torch; print('torch==' + torch.__version__.split('+')[0])" >"$CONSTRAINTS"
if ! pip_install -c "$CONSTRAINTS" -e ".[puzzlemix]" pytest hypothesis; then
    echo "[install] the full install failed (offline?): installing the pieces one by one"
    pip_install --no-build-isolation --no-deps -e . || echo "[install] editable install failed: using PYTHONPATH"
    for pair in torchvision:torchvision pyyaml:yaml tqdm:tqdm gco-wrapper:gco pytest:pytest hypothesis:hypothesis; do
        "$PY" -c "import ${pair#*:}" 2>/dev/null && continue
        pip_install -c "$CONSTRAINTS" "${pair%%:*}" || echo "[install] ${pair%%:*}: not installed"
    done
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch, torchvision, yaml, tqdm, saliency_grafting" || {
    echo "[install] a required package is missing (torch, torchvision, pyyaml, tqdm): cannot run" >&2
    exit 1
}
"$PY" -c "import torch; print(f'[env] torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')"
mkdir -p "$OUT"
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true; fi

# -- data: the CIFAR-10 JPEG archive, unpacked once into .gpu-data/ ---------------------------------------------
if [[ -z "$DATA" && ${#DRY[@]} -eq 0 ]]; then
    for candidate in shared/data/cifar10-jpg.tar.gz ../shared/data/cifar10-jpg.tar.gz; do
        if [[ -f "$candidate" ]]; then DATA="$candidate"; echo "[data] found $candidate"; break; fi
    done
fi
DATA_ARGS=()
if [[ -n "$DATA" ]]; then
    if [[ -d "$DATA" ]]; then
        DATA_DIR="$DATA"
    elif [[ -f "$DATA" ]]; then
        DATA_DIR=".gpu-data/$(basename "$DATA" | sed -E 's/\.(tar\.gz|tgz|tar)$//')"
        STAMP="$(stat -c %s "$DATA")"
        if [[ ! -f "$DATA_DIR/.unpacked" || "$(cat "$DATA_DIR/.unpacked")" != "$STAMP" ]]; then
            echo "[data] unpacking $DATA into $DATA_DIR"
            rm -rf "$DATA_DIR" && mkdir -p "$DATA_DIR"
            tar -xf "$DATA" -C "$DATA_DIR"
            echo "$STAMP" >"$DATA_DIR/.unpacked"
        fi
        if [[ ! -d "$DATA_DIR/train" ]]; then  # an archive with one top folder
            inner="$(find "$DATA_DIR" -mindepth 2 -maxdepth 2 -type d -name train | head -n 1)"
            [[ -n "$inner" ]] && DATA_DIR="$(dirname "$inner")"
        fi
    else
        echo "gpu_check.sh: --data $DATA is neither an archive nor a folder" >&2
        exit 2
    fi
    DATA_ARGS=(--data "$DATA_DIR")
fi

# -- the check, within what is left of the budget ----------------------------------------------------------------
LEFT=$((BUDGET - (SECONDS - START)))
if [[ $LEFT -lt 60 ]]; then
    echo "[budget] only ${LEFT} s left of ${BUDGET} s after install and unpacking: running with 60 s" >&2
    LEFT=60
fi
PHASE_ARGS=()
[[ ${#PHASES[@]} -gt 0 ]] && PHASE_ARGS=(--phases "${PHASES[@]}")
ARGS=(--out "$OUT" --budget "$LEFT" ${DRY[@]+"${DRY[@]}"} ${DATA_ARGS[@]+"${DATA_ARGS[@]}"})
ARGS+=(${PHASE_ARGS[@]+"${PHASE_ARGS[@]}"})
echo "[check] $PY benchmarks/gpu_check.py ${ARGS[*]}"
exec "$PY" benchmarks/gpu_check.py "${ARGS[@]}"
