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
GEN_MODEL="${GEN_MODEL:-smollm2}"
BACKEND="${BACKEND:-auto}"
BASE="${BASE:-minilm}"          # SyCL used facebook/contriever (mean pooling, dot product)
EVAL_SPLIT="${EVAL_SPLIT:-test}"
SEED="${SEED:-42}"
LR="${LR:-1e-5}"                # SyCL: lr 1e-5, 1 epoch, 4 passages per query
GROUP="${GROUP:-4}"
mkdir -p "$WORK"
step() { echo "== $*" >&2; }

step "1. graded documents (4 levels, TREC DL scale) for the first $N_QUERIES queries with $GEN_MODEL"
synrank generate --task docs --levels 4 --docs-per-level 1 --limit "$N_QUERIES" --model "$GEN_MODEL" \
  --backend "$BACKEND" --max-new-tokens "$MAX_NEW" --seed "$SEED" "$QUERIES" --out "$WORK/synth.jsonl"

train() {  # train LOSS OUT extra-args...
  local loss="$1" out="$2"; shift 2
  [ -f "$out/manifest.json" ] && return 0
  synrank train "$WORK/synth.jsonl" --model "$BASE" --loss "$loss" --group-size "$GROUP" --drop-unusable --batch-size "$BATCH" \
    --lr "$LR" --epochs 1 --max-steps "$STEPS" --seed "$SEED" --out "$out" "$@"
}
step "2. train wasserstein, ws2 and infonce (level >= 2 positive) on the same documents"
train wasserstein "$WORK/ckpt-wasserstein"
train ws2 "$WORK/ckpt-ws2"
train infonce "$WORK/ckpt-infonce" --positive-min-level 2

step "3. zero-shot index + eval on $EVAL_DIR ($EVAL_SPLIT)"
[ -f "$WORK/idx-base/manifest.json" ] || synrank index "$EVAL_DIR" --model "$BASE" --out "$WORK/idx-base"
for name in wasserstein ws2 infonce; do
  [ -f "$WORK/idx-$name/manifest.json" ] || synrank index "$EVAL_DIR" --model "$WORK/ckpt-$name" --out "$WORK/idx-$name"
done
for name in base wasserstein ws2 infonce; do
  synrank eval "$WORK/idx-$name" --dataset "$EVAL_DIR" --split "$EVAL_SPLIT" --out "$WORK/eval-$name.json" --run-out "$WORK/run-$name.trec"
done

step "4. compare against the base model"
synrank compare "$WORK/eval-base.json" "$WORK/eval-wasserstein.json" "$WORK/eval-ws2.json" "$WORK/eval-infonce.json" \
  --name base --name wasserstein --name ws2 --name infonce --baseline base --correction holm \
  --plot "$WORK/deltas.png" --format markdown --out "$WORK/compare.md"
cat "$WORK/compare.md"
step "done: files in $WORK"
