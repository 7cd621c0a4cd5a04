#!/usr/bin/env bash
# The GPU figures of issue 6 in one run on a machine without network (the device tool's machine).
#
# Prepare here, in the repository root (once per session):
#   echo /.whl/ >> .git/info/exclude; echo /.shared/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform any -d .whl pyro-ppl==1.9.2 pyro-api==0.1.2 \
#       tyro docstring-parser typeguard pyyaml
#   mkdir -p .shared/data/cifar10 && cp ../shared/data/cifar10/cifar10-train-jpeg.zip .shared/data/cifar10/
# then run `bash benchmarks/gpu_session.sh` there with carry [".whl", ".shared"]. Figures go to stdout
# and to $OUT (step.txt, search.txt). Each part has its own time limit, so a slow part cannot hide the others.
set -uo pipefail
out=${OUT:-/tmp/pyronas-gpu}
mkdir -p "$out"
site=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$site" . || exit 1
export PYTHONPATH=$site PYRONAS_SHARED=$PWD/.shared PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"

# overhead against plain PyTorch and throughput of every method, all ops and single path
timeout 150 python3 benchmarks/step_overhead.py --device cuda --rounds 4 --throughput 64,256 --single-path \
    2>&1 | tee "$out/step.txt"
# full-protocol DrNAS epochs per fast-path variant, extrapolated to 100 epochs; compile last (slowest to start)
timeout 330 python3 benchmarks/gpu_search.py --device cuda --epochs 3 --warmup-epochs 1 \
    --variants base,fast,fast+single,fast+compile 2>&1 | tee "$out/search.txt"
