#!/usr/bin/env bash
# SyCL (Esfandiarpoor et al., 2025): graded synthetic documents for real queries + list-wise training.
#
#   examples/graded_synthetic.sh QUERIES EVAL_DIR
#
# QUERIES: real queries (TSV qid<TAB>text or JSONL), e.g. ../shared/datasets/msmarco/dev-small-queries.tsv.
# EVAL_DIR: a BEIR folder for zero-shot evaluation, e.g. ../shared/datasets/scifact.
# Steps: 4-level graded passages per query -> train wasserstein (per-query OT), ws2 (the SyCL release's
# loss) and infonce (binary: level >= 2 positive) on the same documents -> index + eval zero-shot -> compare.
# Queries that lost passages to generation rejects and have fewer than GROUP left are skipped (--drop-unusable).
# Sizes and models are variables (defaults: bundled models on the CPU). SIZE=tiny is the CI smoke size.
# SYNTH=FILE trains on graded documents generated earlier (e.g. examples/data/scifact/sycl-docs.jsonl) instead
# of step 1; the file is only read.
set -euo pipefail
QUERIES="${1:?usage: $0 QUERIES EVAL_DIR}"
EVAL_DIR="${2:?usage: $0 QUERIES EVAL_DIR}"
SIZE="${SIZE:-small}"
case "$SIZE" in
  tiny)  N_QUERIES="${N_QUERIES:-3}";    GROUP="${GROUP:-3}";    STEPS="${STEPS:-2}";  BATCH="${BATCH:-2}"; MAX_NEW="${MAX_NEW:-96}" ;;
  small) N_QUERIES="${N_QUERIES:-200}";  STEPS="${STEPS:--1}"; BATCH="${BATCH:-16}"; MAX_NEW="${MAX_NEW:-256}" ;;
  full)  N_QUERIES="${N_QUERIES:-5000}"; STEPS="${STEPS:--1}"; BATCH="${BATCH:-32}"; MAX_NEW="${MAX_NEW:-384}" ;;
  *) echo "$0: SIZE must be tiny, small or full" >&2; exit 2 ;;
esac
WORK="${WORK:-runs/graded_synthetic-$SIZE}"
GEN_MODEL="${GEN_MODEL:-$([ "$SIZE" = tiny ] && echo smollm2 || echo qwen2.5-coder-0.5b)}"  # CI smoke: the tiny smollm2; e.g. meta-llama/Llama-3.1-8B-Instruct with BACKEND=vllm
BACKEND="${BACKEND:-llamacpp}"    # CPU: llama.cpp in-process (GGUF); vllm on GPUs, openai for a server
BASE="${BASE:-minilm}"          # SyCL used facebook/contriever (mean pooling, dot product)
EVAL_SPLIT="${EVAL_SPLIT:-test}"
SEED="${SEED:-42}"              # data: generation
SEEDS="${SEEDS:-$SEED}"         # training seeds, e.g. "42 43": one model per seed and loss
SHARDS="${SHARDS:-1}"           # generation processes side by side; 1 = one engine on all cores, as fast as 2 x 1 thread (bench/generate_engine.py) and it reuses more of the shared prompt prefixes
GEN_ARGS="${GEN_ARGS:-}"        # extra generate options, e.g. "--base-url http://127.0.0.1:8080/v1 --concurrency 4"
TRAIN_ARGS="${TRAIN_ARGS:-}"    # extra train options, e.g. "--eval-split 0.1"
# The SyCL release trains every loss (its infonce baselines too) on the raw dot product at trove's default
# temperature 1.0 (Contriever, --normalize no); ws2/wasserstein default to that already. With a model that
# normalises its embeddings (the default minilm) scores lie in [-1, 1]: SIM_ARGS="--similarity cosine
# --temperature 0.05" trains it with a sharper distribution instead.
SIM_ARGS="${SIM_ARGS:---similarity dot --temperature 1.0}"
LR="${LR:-1e-5}"                # SyCL: lr 1e-5, 1 epoch, 4 passages per query
EPOCHS="${EPOCHS:-1}"
GROUP="${GROUP:-4}"
mkdir -p "$WORK"
step() { echo "== $*" >&2; }
step "0. check every input (queries, evaluation corpus, queries and qrels) before the long steps"
synrank check "$EVAL_DIR" --queries "$QUERIES"
. "$(dirname "$0")/sharded_generate.sh"

SYNTH="${SYNTH:-}"
if [ -n "$SYNTH" ]; then
  step "1. graded documents: $SYNTH (given, not regenerated)"
  [ -s "$SYNTH" ] || { echo "$0: SYNTH=$SYNTH: no such file or empty" >&2; exit 2; }
else
  step "1. graded documents (4 levels, TREC DL scale) for the first $N_QUERIES queries with $GEN_MODEL"
  gen() {  # gen OUT extra-args...
    local out="$1"; shift
    synrank generate --task docs --levels 4 --docs-per-level 1 --limit "$N_QUERIES" --model "$GEN_MODEL" \
      --backend "$BACKEND" --max-new-tokens "$MAX_NEW" --seed "$SEED" $GEN_ARGS "$QUERIES" --out "$out" "$@"
  }
  generate_sharded "$WORK/synth.jsonl" "$SHARDS" gen
  SYNTH="$WORK/synth.jsonl"
fi

train() {  # train LOSS OUT SEED extra-args...
  local loss="$1" out="$2" seed="$3"; shift 3
  [ -f "$out/manifest.json" ] && return 0
  synrank train "$SYNTH" --model "$BASE" --loss "$loss" --group-size "$GROUP" --drop-unusable --batch-size "$BATCH" \
    --lr "$LR" --epochs "$EPOCHS" --max-steps "$STEPS" --seed "$seed" $SIM_ARGS $TRAIN_ARGS --out "$out" "$@"
}
step "2. train wasserstein, ws2 and infonce (level >= 2 positive) on the same documents (seeds: $SEEDS)"
names=(base); labels=(base)
for seed in $SEEDS; do
  # the release draws each group uniformly (trove passage_selection_strategy=random), top passage or not
  train wasserstein "$WORK/ckpt-wasserstein-s$seed" "$seed" --selection uniform
  train ws2 "$WORK/ckpt-ws2-s$seed" "$seed" --selection uniform
  train infonce "$WORK/ckpt-infonce-s$seed" "$seed" --positive-min-level 2
  for loss in wasserstein ws2 infonce; do names+=("$loss-s$seed"); labels+=("$loss-s$seed"); done
done

step "3. zero-shot index + eval on $EVAL_DIR ($EVAL_SPLIT)"
[ -f "$WORK/idx-base/manifest.json" ] || synrank index "$EVAL_DIR" --model "$BASE" --out "$WORK/idx-base"
for name in "${names[@]}"; do
  [ "$name" = base ] || [ -f "$WORK/idx-$name/manifest.json" ] || synrank index "$EVAL_DIR" --model "$WORK/ckpt-$name" --out "$WORK/idx-$name"
  synrank eval "$WORK/idx-$name" --dataset "$EVAL_DIR" --split "$EVAL_SPLIT" --out "$WORK/eval-$name.json" --run-out "$WORK/run-$name.trec"
done

step "4. compare against the base model"
evals=(); for name in "${names[@]}"; do evals+=("$WORK/eval-$name.json"); done
synrank compare "${evals[@]}" --name "$(IFS=,; echo "${labels[*]}")" --baseline base --correction holm \
  --plot "$WORK/deltas.png" --format markdown --out "$WORK/compare.md"
cat "$WORK/compare.md"
step "done: files in $WORK"
