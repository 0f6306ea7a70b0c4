#!/usr/bin/env bash
# synrank demo on the bundled defaults: a small run of the domain-adaptation pipeline (Tamber et al., 2025)
# on real data, in a few minutes on 2 CPU cores.
#
#   SciFact slice (100 test claims, 600 abstracts) from ../shared/datasets, else the sample in examples/data
#   -> Qwen2.5-Coder-0.5B (llama.cpp) writes title and keyword queries for 24 abstracts -> dense + BM25 candidates, fused
#   -> MiniLM + BM25 teachers, the paper's filters -> kl+infonce and infonce training -> index -> eval
#   -> compare against the base model (table + delta plot).
#
# The demo is too small to move nDCG: it shows every step and file. docs/results.md has the measured runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${DEMO_OUT:-$root/demo-out}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
mkdir -p "$out"
start=$(date +%s)

scifact="$root/../shared/datasets/scifact"
if [ -f "$scifact/corpus.jsonl" ]; then
  echo "== data: SciFact slice (100 test claims, 600 abstracts) from $scifact" >&2
  [ -f "$out/data/corpus.jsonl" ] || python "$here/scifact_slice.py" "$scifact" "$out/data" --queries 100 --docs 600
  data="$out/data"
else
  echo "== data: ../shared/datasets not found; using the small sample in examples/data/sample" >&2
  data="$here/data/sample"
fi

# One llama.cpp engine decodes several prompts at once (--slots) on all cores: no need for shards.
SIZE=demo SHARDS="${SHARDS:-1}" WORK="$out/pipeline" bash "$here/domain_adaptation.sh" "$data"
echo "== demo done in $(( $(date +%s) - start )) s: table $out/pipeline/compare.md, delta plot $out/pipeline/deltas.png" >&2
