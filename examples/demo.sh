#!/usr/bin/env bash
# synrank demo on the bundled defaults: index a real corpus slice with the bundled MiniLM bi-encoder and
# evaluate it on real judgments (SciFact from ../shared/datasets when present, else the sample in examples/data).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${DEMO_OUT:-$root/demo-out}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
mkdir -p "$out"

scifact="$root/../shared/datasets/scifact"
if [ -f "$scifact/corpus.jsonl" ]; then
  echo "== data: SciFact slice (100 test claims, 600 abstracts) from $scifact" >&2
  python "$here/scifact_slice.py" "$scifact" "$out/data" --queries 100 --docs 600
  data="$out/data"
else
  echo "== data: ../shared/datasets not found; using the small sample in examples/data/sample" >&2
  data="$here/data/sample"
fi

echo "== synrank index $data --model minilm --out $out/idx" >&2
synrank index "$data" --model minilm --out "$out/idx" --overwrite
echo "== synrank eval $out/idx --dataset $data" >&2
synrank eval "$out/idx" --dataset "$data" --split test --out "$out/results.json" --run-out "$out/run.trec"
echo "== done: $out/results.json (metrics), $out/run.trec (TREC run), $out/idx/manifest.json" >&2
