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
# The settings of every step come from one recipe file (RECIPE; every command reads it with --config):
#   SIZE=small, demo, tiny: examples/recipes/cadet-cpu.yaml (the bundled models on a CPU; each departure from the
#                           reference is commented in the file with its reason);
#   SIZE=full:              examples/recipes/cadet-reference.yaml (the reference code's settings, GPUs; docs/recipes.md).
# The script writes $WORK/recipe.yaml: the recipe plus this size's settings (passages, steps), which is what the
# commands read. Environment variables below override single settings as flags (flags win over the file).
# SIZE=tiny is the CI smoke size, SIZE=demo what `make demo` runs.
# QUERIES=FILE trains on queries generated earlier (e.g. examples/data/scifact/queries.jsonl) instead of step 1;
# the file is only read.
set -euo pipefail
CORPUS="${1:?usage: $0 CORPUS_DIR (a BEIR folder)}"
here="$(cd "$(dirname "$0")" && pwd)"
SIZE="${SIZE:-small}"
case "$SIZE" in
  tiny|demo|small) RECIPE="${RECIPE:-$here/recipes/cadet-cpu.yaml}" ;;
  full) RECIPE="${RECIPE:-$here/recipes/cadet-reference.yaml}" ;;
  *) echo "$0: SIZE must be tiny, demo, small or full" >&2; exit 2 ;;
esac
[ -f "$RECIPE" ] || { echo "$0: RECIPE=$RECIPE: no such file" >&2; exit 2; }
RECIPE="$(cd "$(dirname "$RECIPE")" && pwd)/$(basename "$RECIPE")"
# This size's settings on top of the recipe. tiny: a handful of smollm2 queries, the filters off (a few queries from
# the tiny model may not survive them), 2 steps; demo: 24 passages, 2 quick types.
case "$SIZE" in
  tiny)  N_PASSAGES="${N_PASSAGES:-4}"
         size_settings=$'generate:\n  model: smollm2\n  types: title,keywords\n  max_new_tokens: 24
score:\n  require_source_in_top: 0\n  require_source_top1: false\n  drop_bottom_pct: 0\n  min_list_size: 0
train:\n  max_steps: 2\n  batch_size: 4' ;;
  demo)  N_PASSAGES="${N_PASSAGES:-24}"
         size_settings=$'generate:\n  types: title,keywords\n  max_new_tokens: 32\ntrain:\n  batch_size: 8' ;;
  small) N_PASSAGES="${N_PASSAGES:-320}"; size_settings="" ;;
  full)  N_PASSAGES="${N_PASSAGES:-5000}"; size_settings="" ;;
esac
WORK="${WORK:-runs/domain_adaptation-$SIZE}"
EVAL_SPLIT="${EVAL_SPLIT:-test}"
SEED="${SEED:-42}"                         # data: generation, candidates, teacher lists
SEEDS="${SEEDS:-$SEED}"                    # training seeds, e.g. "42 43": one model per seed and loss
SHARDS="${SHARDS:-1}"                      # generation processes side by side; 1 = one engine on all cores, as fast as 2 x 1 thread (bench/generate_engine.py) and it reuses more of the shared prompt prefixes
GEN_ARGS="${GEN_ARGS:-}"                   # extra generate options, e.g. "--base-url http://127.0.0.1:8080/v1 --concurrency 4"
TRAIN_ARGS="${TRAIN_ARGS:-}"               # extra train options, e.g. "--eval-split 0.1" or "--max-seq-length 256"
FILTERS="${FILTERS:-}"                     # extra score options (the paper's filters are in the recipe)
# Single settings over the recipe, each only when set: GEN_MODEL BACKEND TYPES MAX_NEW (generate), BASE (the student:
# index and train), TEACHERS (space-separated teacher specs), LIST_SIZE (score), LR EPOCHS GROUP BATCH STEPS
# KD_TEACHER_TEMP (train; KD_TEACHER_TEMP for kl+infonce only).
gen_opts=(); score_opts=(); train_opts=(); base_opts=()
[ -z "${GEN_MODEL:-}" ] || gen_opts+=(--model "$GEN_MODEL")
[ -z "${BACKEND:-}" ] || gen_opts+=(--backend "$BACKEND")
[ -z "${TYPES:-}" ] || gen_opts+=(--types "$TYPES")
[ -z "${MAX_NEW:-}" ] || gen_opts+=(--max-new-tokens "$MAX_NEW")
[ -z "${BASE:-}" ] || base_opts+=(--model "$BASE")
for t in ${TEACHERS:-}; do score_opts+=(--teacher "$t"); done
[ -z "${LIST_SIZE:-}" ] || score_opts+=(--list-size "$LIST_SIZE")
[ -z "${LR:-}" ] || train_opts+=(--lr "$LR")
[ -z "${EPOCHS:-}" ] || train_opts+=(--epochs "$EPOCHS")
[ -z "${GROUP:-}" ] || train_opts+=(--group-size "$GROUP")
[ -z "${BATCH:-}" ] || train_opts+=(--batch-size "$BATCH")
[ -z "${STEPS:-}" ] || train_opts+=(--max-steps "$STEPS")
kd_opts=(); [ -z "${KD_TEACHER_TEMP:-}" ] || kd_opts+=(--teacher-temperature "$KD_TEACHER_TEMP")
# About one generated query in DEV_ONE_IN is held out (with its list) as a dev set; 0 = no dev split.
case "$SIZE" in tiny|demo) DEV_ONE_IN="${DEV_ONE_IN:-0}" ;; *) DEV_ONE_IN="${DEV_ONE_IN:-10}" ;; esac
mkdir -p "$WORK"
recipe="$WORK/recipe.yaml"
printf '# written by examples/domain_adaptation.sh (SIZE=%s): %s plus this size'"'"'s settings\nextends: %s\n%s\n' \
  "$SIZE" "$RECIPE" "$RECIPE" "$size_settings" > "$recipe.tmp" && mv "$recipe.tmp" "$recipe"
step() { echo "== $*" >&2; }
step "0. check every input (corpus, queries, qrels) before the long steps; recipe: $recipe"
synrank check "$CORPUS"
. "$(dirname "$0")/sharded_generate.sh"

QUERIES="${QUERIES:-}"
if [ -n "$QUERIES" ]; then
  step "1. synthetic queries: $QUERIES (given, not regenerated)"
  synrank check --queries "$QUERIES"
else
  step "1. synthetic queries for the first $N_PASSAGES passages"
  gen() {  # gen OUT extra-args...
    local out="$1"; shift
    synrank generate "$CORPUS" --config "$recipe" --limit "$N_PASSAGES" --seed "$SEED" "${gen_opts[@]}" $GEN_ARGS --out "$out" "$@"
  }
  generate_sharded "$WORK/queries.jsonl" "$SHARDS" gen
  QUERIES="$WORK/queries.jsonl"
fi

step "2. index the corpus with the base model"
[ -f "$WORK/idx-base/manifest.json" ] || synrank index "$CORPUS" --config "$recipe" "${base_opts[@]}" --out "$WORK/idx-base"

step "3. candidates: dense (base model) and BM25"
synrank search "$WORK/idx-base" "$QUERIES" --config "$recipe" --out "$WORK/dense.jsonl"
synrank search --bm25 "$CORPUS" "$QUERIES" --config "$recipe" --out "$WORK/bm25.jsonl"

step "4. fuse, score with the teacher(s), apply the paper's filters (the dense run is the student's own input)"
synrank score "$WORK/dense.jsonl" "$WORK/bm25.jsonl" --corpus "$CORPUS" --config "$recipe" "${score_opts[@]}" \
  $FILTERS --seed "$SEED" --out "$WORK/lists.jsonl"

lists="$WORK/lists.jsonl"
if [ "$DEV_ONE_IN" -gt 0 ]; then
  step "4b. dev split: one generated query in $DEV_ONE_IN (before filtering; relevant = its source passage) held out"
  python "$(dirname "$0")/dev_split.py" "$QUERIES" "$WORK/lists.jsonl" --one-in "$DEV_ONE_IN" --out "$WORK"
  lists="$WORK/lists-train.jsonl"
fi

train() {  # train LOSS OUT SEED extra-args...
  local loss="$1" out="$2" seed="$3"; shift 3
  [ -f "$out/manifest.json" ] && return 0
  synrank train "$lists" --config "$recipe" --loss "$loss" --drop-unusable "${base_opts[@]}" "${train_opts[@]}" --seed "$seed" \
    $TRAIN_ARGS --out "$out" "$@"
}
step "5. train: kl+infonce (the paper's loss) and infonce only, on the same lists (seeds: $SEEDS)"
# Every seed of the paper's loss first: a run cut short still has the models the result is about.
for seed in $SEEDS; do train kl+infonce "$WORK/ckpt-kd-s$seed" "$seed" "${kd_opts[@]}"; done
# The baseline: InfoNCE alone, without the distillation's false-negative mask and KL-based stopping rule.
for seed in $SEEDS; do train infonce "$WORK/ckpt-nce-s$seed" "$seed" --fn-margin 0 --early-stopping-metric loss; done

step "6. index + eval the base and the trained models on $CORPUS ($EVAL_SPLIT)"
names=(base); labels=(base)
for seed in $SEEDS; do names+=("kd-s$seed" "nce-s$seed"); labels+=("kl+infonce-s$seed" "infonce-s$seed"); done
for name in "${names[@]}"; do
  [ "$name" = base ] || [ -f "$WORK/idx-$name/manifest.json" ] || synrank index "$CORPUS" --config "$recipe" --model "$WORK/ckpt-$name" --out "$WORK/idx-$name"
  synrank eval "$WORK/idx-$name" --config "$recipe" --dataset "$CORPUS" --split "$EVAL_SPLIT" --out "$WORK/eval-$name.json" --run-out "$WORK/run-$name.trec"
  if [ "$DEV_ONE_IN" -gt 0 ]; then
    synrank eval "$WORK/idx-$name" --config "$recipe" --queries "$WORK/dev-queries.tsv" --qrels "$WORK/dev-qrels.tsv" --out "$WORK/dev-eval-$name.json"
  fi
done

step "7. compare against the base model (paired t-test, Holm correction)"
evals=(); devs=(); for name in "${names[@]}"; do evals+=("$WORK/eval-$name.json"); devs+=("$WORK/dev-eval-$name.json"); done
if [ "$DEV_ONE_IN" -gt 0 ]; then  # what hyperparameters are chosen on: the synthetic dev split
  synrank compare "${devs[@]}" --name "$(IFS=,; echo "${labels[*]}")" --baseline base --format markdown --out "$WORK/dev-compare.md"
fi
synrank compare "${evals[@]}" --name "$(IFS=,; echo "${labels[*]}")" --baseline base --correction holm \
  --plot "$WORK/deltas.png" --format markdown --out "$WORK/compare.md"
cat "$WORK/compare.md"
step "done: files in $WORK (delta plot: $WORK/deltas.png)"
