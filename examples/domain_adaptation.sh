#!/usr/bin/env bash
# Listwise distillation on synthetic queries (Tamber et al., 2025) on YOUR corpus, every step a synrank command.
#
#   examples/domain_adaptation.sh CORPUS_DIR
#
# CORPUS_DIR is a BEIR folder (corpus.jsonl; queries.jsonl + qrels/$EVAL_SPLIT.tsv to evaluate on).
# Steps: synthetic queries of several types from a sample of passages -> dense + BM25 candidates fused with
# RRF -> teacher scores + the paper's filters -> kl+infonce training (and an infonce-only model on the same
# lists) -> index -> eval -> compare against the base model. Intermediate files stay in $WORK; each step is
# skipped when its output is complete, and the generate/search/score steps resume inside themselves.
#
# Sizes and models are variables (defaults: bundled models on the CPU). SIZE=tiny is the CI smoke size.
# Paper scale on a GPU: see docs/recipes.md.
set -euo pipefail
CORPUS="${1:?usage: $0 CORPUS_DIR (a BEIR folder)}"
SIZE="${SIZE:-small}"
case "$SIZE" in
  tiny)  N_PASSAGES="${N_PASSAGES:-4}";   TYPES="${TYPES:-title,keywords}";              STEPS="${STEPS:-2}";  BATCH="${BATCH:-4}"; MAX_NEW="${MAX_NEW:-24}"; FILTERS="${FILTERS-}" ;;
  small) N_PASSAGES="${N_PASSAGES:-300}"; TYPES="${TYPES:-question,claim,keywords,title}"; STEPS="${STEPS:--1}"; BATCH="${BATCH:-16}"; MAX_NEW="${MAX_NEW:-64}" ;;
  full)  N_PASSAGES="${N_PASSAGES:-5000}"; TYPES="${TYPES:-question,claim,keywords,title,search}"; STEPS="${STEPS:--1}"; BATCH="${BATCH:-64}"; MAX_NEW="${MAX_NEW:-64}" ;;
  *) echo "$0: SIZE must be tiny, small or full" >&2; exit 2 ;;
esac
WORK="${WORK:-runs/domain_adaptation-$SIZE}"
GEN_MODEL="${GEN_MODEL:-smollm2}"           # e.g. meta-llama/Llama-3.1-8B-Instruct with BACKEND=vllm
BACKEND="${BACKEND:-auto}"
BASE="${BASE:-minilm}"                     # the student: e.g. BAAI/bge-base-en-v1.5
TEACHERS="${TEACHERS:-bi-encoder:$BASE bm25}"   # e.g. cross-encoder:BAAI/bge-reranker-v2-m3
EVAL_SPLIT="${EVAL_SPLIT:-test}"
SEED="${SEED:-42}"
LR="${LR:-2e-5}"
EPOCHS="${EPOCHS:-1}"
LIST_SIZE="${LIST_SIZE:-20}"
# The paper's filters; SIZE=tiny turns them off (a handful of demo-model queries may not survive them).
FILTERS="${FILTERS---require-source-in-top 20 --require-source-top1 --drop-bottom-pct 25}"
GROUP="${GROUP:-8}"
mkdir -p "$WORK"
step() { echo "== $*" >&2; }
teacher_args=(); for t in $TEACHERS; do teacher_args+=(--teacher "$t"); done

step "1. synthetic queries ($TYPES) for the first $N_PASSAGES passages with $GEN_MODEL"
synrank generate --task queries --types "$TYPES" --per-doc 1 --limit "$N_PASSAGES" \
  --model "$GEN_MODEL" --backend "$BACKEND" --max-new-tokens "$MAX_NEW" --seed "$SEED" "$CORPUS" --out "$WORK/queries.jsonl"

step "2. index the corpus with the base model $BASE"
[ -f "$WORK/idx-base/manifest.json" ] || synrank index "$CORPUS" --model "$BASE" --out "$WORK/idx-base"

step "3. candidates: dense (base model) and BM25, top 100 each"
synrank search "$WORK/idx-base" "$WORK/queries.jsonl" --k 100 --out "$WORK/dense.jsonl"
synrank search --bm25 "$CORPUS" "$WORK/queries.jsonl" --k 100 --out "$WORK/bm25.jsonl"

step "4. fuse with RRF, score with the teacher(s) ($TEACHERS), apply the paper's filters"
synrank score "$WORK/dense.jsonl" "$WORK/bm25.jsonl" --corpus "$CORPUS" --fuse rrf "${teacher_args[@]}" \
  --list-size "$LIST_SIZE" $FILTERS --normalize pct-minmax --seed "$SEED" --out "$WORK/lists.jsonl"

train() {  # train LOSS OUT extra-args...
  local loss="$1" out="$2"; shift 2
  [ -f "$out/manifest.json" ] && return 0
  synrank train "$WORK/lists.jsonl" --model "$BASE" --loss "$loss" --group-size "$GROUP" --drop-unusable --selection top \
    --batch-size "$BATCH" --lr "$LR" --epochs "$EPOCHS" --max-steps "$STEPS" --seed "$SEED" --out "$out" "$@"
}
step "5. train: kl+infonce (the paper's loss) and infonce only, on the same lists"
train kl+infonce "$WORK/ckpt-kd"
train infonce "$WORK/ckpt-nce"

step "6. index + eval the base and both trained models on $CORPUS ($EVAL_SPLIT)"
for name in kd nce; do
  [ -f "$WORK/idx-$name/manifest.json" ] || synrank index "$CORPUS" --model "$WORK/ckpt-$name" --out "$WORK/idx-$name"
done
for name in base kd nce; do
  synrank eval "$WORK/idx-$name" --dataset "$CORPUS" --split "$EVAL_SPLIT" \
    --out "$WORK/eval-$name.json" --run-out "$WORK/run-$name.trec"
done

step "7. compare against the base model (paired t-test, Holm correction)"
synrank compare "$WORK/eval-base.json" "$WORK/eval-kd.json" "$WORK/eval-nce.json" --name base --name kl+infonce --name infonce \
  --baseline base --correction holm --plot "$WORK/deltas.png" --format markdown --out "$WORK/compare.md"
cat "$WORK/compare.md"
step "done: files in $WORK (delta plot: $WORK/deltas.png)"
