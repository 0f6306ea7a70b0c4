#!/usr/bin/env bash
# SyCL (Esfandiarpoor et al., 2025): graded synthetic documents for real queries + list-wise training.
#
#   examples/graded_synthetic.sh QUERIES EVAL_DIR
#
# QUERIES: real queries (TSV qid<TAB>text or JSONL), e.g. ../shared/datasets/msmarco/dev-small-queries.tsv.
# EVAL_DIR: a BEIR folder for zero-shot evaluation, e.g. ../shared/datasets/scifact.
# Steps: 4-level graded passages per query -> train wasserstein (per-query OT), ws2 (the SyCL release's
# loss) and infonce (binary: level >= 2 positive) on the same documents -> index + eval zero-shot -> compare.
# Queries that lost passages to generation rejects and have fewer than the group size left are skipped (--drop-unusable).
#
# The settings of every step come from one recipe file (RECIPE; every command reads it with --config):
#   SIZE=small, tiny: examples/recipes/sycl-cpu.yaml (the bundled models on a CPU; departures commented in the file);
#   SIZE=full:        examples/recipes/sycl-reference.yaml (the release's settings, GPUs; docs/recipes.md).
# The script writes $WORK/recipe.yaml (the recipe plus this size's settings), which is what the commands read;
# the environment variables below override single settings as flags. SIZE=tiny is the CI smoke size.
# SYNTH=FILE trains on graded documents generated earlier (e.g. examples/data/scifact/sycl-docs.jsonl) instead
# of step 1; the file is only read.
set -euo pipefail
QUERIES="${1:?usage: $0 QUERIES EVAL_DIR}"
EVAL_DIR="${2:?usage: $0 QUERIES EVAL_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
SIZE="${SIZE:-small}"
case "$SIZE" in
  tiny|small) RECIPE="${RECIPE:-$here/recipes/sycl-cpu.yaml}" ;;
  full) RECIPE="${RECIPE:-$here/recipes/sycl-reference.yaml}" ;;
  *) echo "$0: SIZE must be tiny, small or full" >&2; exit 2 ;;
esac
[ -f "$RECIPE" ] || { echo "$0: RECIPE=$RECIPE: no such file" >&2; exit 2; }
RECIPE="$(cd "$(dirname "$RECIPE")" && pwd)/$(basename "$RECIPE")"
case "$SIZE" in
  tiny)  N_QUERIES="${N_QUERIES:-3}"
         size_settings=$'generate:\n  model: smollm2\n  max_new_tokens: 96\ntrain:\n  group_size: 3\n  max_steps: 2\n  batch_size: 2' ;;
  small) N_QUERIES="${N_QUERIES:-200}"; size_settings="" ;;
  full)  N_QUERIES="${N_QUERIES:-5000}"; size_settings="" ;;
esac
WORK="${WORK:-runs/graded_synthetic-$SIZE}"
EVAL_SPLIT="${EVAL_SPLIT:-test}"
SEED="${SEED:-42}"              # data: generation
SEEDS="${SEEDS:-$SEED}"         # training seeds, e.g. "42 43": one model per seed and loss
SHARDS="${SHARDS:-1}"           # generation processes side by side; 1 = one engine on all cores, as fast as 2 x 1 thread (bench/generate_engine.py) and it reuses more of the shared prompt prefixes
GEN_ARGS="${GEN_ARGS:-}"        # extra generate options, e.g. "--base-url http://127.0.0.1:8080/v1 --concurrency 4"
TRAIN_ARGS="${TRAIN_ARGS:-}"    # extra train options, e.g. "--eval-split 0.1"
# The recipe trains every loss (the infonce baseline too) on the raw dot product at temperature 1.0, as the release
# does (Contriever, --normalize no). With a model that normalises (the default minilm) scores lie in [-1, 1]:
# SIM_ARGS="--similarity cosine --temperature 0.05" trains it with a sharper distribution instead.
SIM_ARGS="${SIM_ARGS:-}"
# Single settings over the recipe, each only when set: GEN_MODEL BACKEND MAX_NEW (generate), BASE (the student),
# LR EPOCHS GROUP BATCH STEPS (train).
gen_opts=(); train_opts=(); base_opts=()
[ -z "${GEN_MODEL:-}" ] || gen_opts+=(--model "$GEN_MODEL")
[ -z "${BACKEND:-}" ] || gen_opts+=(--backend "$BACKEND")
[ -z "${MAX_NEW:-}" ] || gen_opts+=(--max-new-tokens "$MAX_NEW")
[ -z "${BASE:-}" ] || base_opts+=(--model "$BASE")
[ -z "${LR:-}" ] || train_opts+=(--lr "$LR")
[ -z "${EPOCHS:-}" ] || train_opts+=(--epochs "$EPOCHS")
[ -z "${GROUP:-}" ] || train_opts+=(--group-size "$GROUP")
[ -z "${BATCH:-}" ] || train_opts+=(--batch-size "$BATCH")
[ -z "${STEPS:-}" ] || train_opts+=(--max-steps "$STEPS")
mkdir -p "$WORK"
recipe="$WORK/recipe.yaml"
printf '# written by examples/graded_synthetic.sh (SIZE=%s): %s plus this size'"'"'s settings\nextends: %s\n%s\n' \
  "$SIZE" "$RECIPE" "$RECIPE" "$size_settings" > "$recipe.tmp" && mv "$recipe.tmp" "$recipe"
step() { echo "== $*" >&2; }
step "0. check every input (queries, evaluation corpus, queries and qrels) before the long steps; recipe: $recipe"
synrank check "$EVAL_DIR" --queries "$QUERIES"
. "$(dirname "$0")/sharded_generate.sh"

SYNTH="${SYNTH:-}"
if [ -n "$SYNTH" ]; then
  step "1. graded documents: $SYNTH (given, not regenerated)"
  [ -s "$SYNTH" ] || { echo "$0: SYNTH=$SYNTH: no such file or empty" >&2; exit 2; }
else
  step "1. graded documents (TREC DL levels) for the first $N_QUERIES queries"
  gen() {  # gen OUT extra-args...
    local out="$1"; shift
    synrank generate "$QUERIES" --config "$recipe" --limit "$N_QUERIES" --seed "$SEED" "${gen_opts[@]}" $GEN_ARGS --out "$out" "$@"
  }
  generate_sharded "$WORK/synth.jsonl" "$SHARDS" gen
  SYNTH="$WORK/synth.jsonl"
fi

train() {  # train LOSS OUT SEED extra-args...
  local loss="$1" out="$2" seed="$3"; shift 3
  [ -f "$out/manifest.json" ] && return 0
  synrank train "$SYNTH" --config "$recipe" --loss "$loss" --drop-unusable "${base_opts[@]}" "${train_opts[@]}" --seed "$seed" \
    $SIM_ARGS $TRAIN_ARGS --out "$out" "$@"
}
step "2. train wasserstein, ws2 and infonce (level >= 2 positive) on the same documents (seeds: $SEEDS)"
names=(base); labels=(base)
for seed in $SEEDS; do
  # The recipe draws each group uniformly (trove passage_selection_strategy=random), top passage or not; the binary
  # baseline keeps the top passage in every group (--selection random), so each group has its positive.
  train wasserstein "$WORK/ckpt-wasserstein-s$seed" "$seed"
  train ws2 "$WORK/ckpt-ws2-s$seed" "$seed"
  train infonce "$WORK/ckpt-infonce-s$seed" "$seed" --positive-min-level 2 --selection random
  for loss in wasserstein ws2 infonce; do names+=("$loss-s$seed"); labels+=("$loss-s$seed"); done
done

step "3. zero-shot index + eval on $EVAL_DIR ($EVAL_SPLIT)"
[ -f "$WORK/idx-base/manifest.json" ] || synrank index "$EVAL_DIR" --config "$recipe" "${base_opts[@]}" --out "$WORK/idx-base"
for name in "${names[@]}"; do
  [ "$name" = base ] || [ -f "$WORK/idx-$name/manifest.json" ] || synrank index "$EVAL_DIR" --config "$recipe" --model "$WORK/ckpt-$name" --out "$WORK/idx-$name"
  synrank eval "$WORK/idx-$name" --config "$recipe" --dataset "$EVAL_DIR" --split "$EVAL_SPLIT" --out "$WORK/eval-$name.json" --run-out "$WORK/run-$name.trec"
done

step "4. compare against the base model"
evals=(); for name in "${names[@]}"; do evals+=("$WORK/eval-$name.json"); done
synrank compare "${evals[@]}" --name "$(IFS=,; echo "${labels[*]}")" --baseline base --correction holm \
  --plot "$WORK/deltas.png" --format markdown --out "$WORK/compare.md"
cat "$WORK/compare.md"
step "done: files in $WORK"
