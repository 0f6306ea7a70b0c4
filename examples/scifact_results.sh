#!/usr/bin/env bash
# Reproduce every figure of docs/results.md on SciFact with the bundled models on a CPU.
#
#   examples/scifact_results.sh [SCIFACT_DIR] [MSMARCO_DIR]
#
# 1. the domain-adaptation pipeline (examples/domain_adaptation.sh): kl+infonce and infonce, seeds $SEEDS,
#    with its synthetic dev split (one generated query in 10 held out) on which the teacher temperature was chosen;
# 2. SyCL (examples/graded_synthetic.sh) on MS MARCO dev-small queries, zero-shot on SciFact: wasserstein,
#    ws2 and infonce on the same generated documents, seeds $SEEDS;
# 3. reference rows: the base model, BM25, and their RRF fusion;
# 4. the real-data baseline: SciFact train qrels, BM25 hard negatives, InfoNCE, seeds $SEEDS;
# 5. one comparison of everything against the base model (paired t-test, Holm) and a mean/spread table.
#
# Generation is the slow part on a CPU. The figures of docs/results.md were made with the bundled SmolLM2
# GGUF served by an external llama.cpp llama-server; to regenerate exactly those, pass for both pipelines
#   GEN_MODEL=smollm2 GEN_ARGS="--base-url http://127.0.0.1:8080/v1 --concurrency 8 --prefill" BACKEND=openai
# By default the pipelines now use qwen2.5-coder-0.5b through synrank's own llama.cpp backend (no server).
# Every step skips what is already done, so the script can be stopped and re-run.
#
# SKIP_GENERATE=1 starts from the generated data committed under examples/data/scifact/ (the queries and
# graded documents behind docs/results.md, with their manifests): training, indexing and evaluation only,
# about 4.5 hours on 2 cores (mostly the four domain-adaptation trainings, ~40 min each, and 14 index builds,
# ~5.5 min each) instead of about 8 hours with the three and a half hours of generation.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
SCIFACT="${1:-$here/../../shared/datasets/scifact}"
MSMARCO="${2:-$here/../../shared/datasets/msmarco}"
OUT="${OUT:-runs/results}"
SEEDS="${SEEDS:-42 43}"
N_PASSAGES="${N_PASSAGES:-320}"   # corpus passages given to the query generator (x4 query types)
N_QUERIES="${N_QUERIES:-200}"     # MS MARCO dev-small queries given to the document generator (x4 levels)
REAL_GROUP="${REAL_GROUP:-4}"      # real-data baseline: passages per query (judged + BM25 negatives)
mkdir -p "$OUT"
export SEEDS
if [ "${SKIP_GENERATE:-0}" = 1 ]; then
  data="$here/data/scifact"
  [ -s "$data/queries.jsonl" ] && export QUERIES="$data/queries.jsonl"
  [ -s "$data/sycl-docs.jsonl" ] && export SYNTH="$data/sycl-docs.jsonl"
fi
step() { echo "== $*" >&2; }
timed() {  # timed NAME command...: appends NAME<TAB>seconds to $OUT/times.tsv
  local name="$1" t0; shift; t0=$(date +%s)
  "$@"
  printf '%s\t%s\n' "$name" "$(( $(date +%s) - t0 ))" >> "$OUT/times.tsv"
}

step "1. domain adaptation (synthetic queries + kl+infonce), $N_PASSAGES passages"
timed domain_adaptation env SIZE=small N_PASSAGES="$N_PASSAGES" WORK="$OUT/da" bash "$here/domain_adaptation.sh" "$SCIFACT"

step "2. SyCL (graded synthetic documents), $N_QUERIES MS MARCO queries, zero-shot on SciFact"
timed graded_synthetic env SIZE=small N_QUERIES="$N_QUERIES" WORK="$OUT/sycl" \
  bash "$here/graded_synthetic.sh" "$MSMARCO/dev-small-queries.tsv" "$SCIFACT"

step "3. reference rows: base model (from step 1), BM25, RRF fusion of the two"
mkdir -p "$OUT/ref"
if [ ! -f "$OUT/ref/bm25.trec" ]; then
  timed bm25 synrank search --bm25 "$SCIFACT" "$SCIFACT" --k 1000 --out "$OUT/ref/bm25-all.trec"
  # Keep the test claims only: compare refuses a run made for another query set.
  awk 'NR==FNR{q[$1];next} ($1 in q)' "$SCIFACT/qrels/test.tsv" "$OUT/ref/bm25-all.trec" > "$OUT/ref/bm25.trec"
fi
synrank fuse "$OUT/ref/bm25.trec" "$OUT/da/run-base.trec" --out "$OUT/ref/bm25+base.trec"
synrank fuse "$OUT/ref/bm25.trec" "$OUT/da/run-base.trec" --method minmax --depth 100 --top 100 --out "$OUT/ref/teacher-minmax.trec"

step "4. real-data baseline: SciFact train qrels, BM25 hard negatives, InfoNCE"
mkdir -p "$OUT/real"
[ -f "$OUT/real/bm25-negatives.jsonl.manifest.json" ] && [ -s "$OUT/real/bm25-negatives.jsonl" ] ||
  synrank search --bm25 "$SCIFACT" "$SCIFACT" --k 50 --out "$OUT/real/bm25-negatives.jsonl"
for seed in $SEEDS; do
  ckpt="$OUT/real/ckpt-s$seed"
  [ -f "$ckpt/manifest.json" ] || timed "real-train-s$seed" synrank train --dataset "$SCIFACT" --split train \
    --negatives "$OUT/real/bm25-negatives.jsonl" --loss infonce --group-size "$REAL_GROUP" --batch-size 16 --lr 2e-5 \
    --epochs 1 --seed "$seed" --out "$ckpt"
  [ -f "$OUT/real/idx-s$seed/manifest.json" ] || synrank index "$SCIFACT" --model "$ckpt" --out "$OUT/real/idx-s$seed"
  synrank eval "$OUT/real/idx-s$seed" --dataset "$SCIFACT" --split test --out "$OUT/real/eval-s$seed.json" \
    --run-out "$OUT/real/run-s$seed.trec"
done

step "5. everything against the base model (TREC runs scored with the test qrels)"
runs=("$OUT/da/run-base.trec" "$OUT/ref/bm25.trec" "$OUT/ref/bm25+base.trec"); names=(base bm25 bm25+base)
for seed in $SEEDS; do
  runs+=("$OUT/da/run-kd-s$seed.trec" "$OUT/da/run-nce-s$seed.trec"); names+=("da-kl+infonce-s$seed" "da-infonce-s$seed")
done
for seed in $SEEDS; do
  for loss in wasserstein ws2 infonce; do runs+=("$OUT/sycl/run-$loss-s$seed.trec"); names+=("sycl-$loss-s$seed"); done
done
for seed in $SEEDS; do runs+=("$OUT/real/run-s$seed.trec"); names+=("real-infonce-s$seed"); done
synrank compare "${runs[@]}" --name "$(IFS=,; echo "${names[*]}")" --qrels "$SCIFACT/qrels/test.tsv" --baseline base \
  --metrics nDCG@10,R@100 --correction holm --plot "$OUT/deltas.png" --format markdown --out "$OUT/compare.md"
cat "$OUT/compare.md"
python "$here/seed_summary.py" --qrels "$SCIFACT/qrels/test.tsv" --baseline base "${runs[@]}" --names "$(IFS=,; echo "${names[*]}")" \
  > "$OUT/summary.md"
cat "$OUT/summary.md"
step "done: $OUT/compare.md (per run), $OUT/summary.md (mean and spread over seeds), $OUT/times.tsv"
