# Sourced by the pipeline scripts: run a `synrank generate` job as SHARDS processes side by side.
#
#   generate_sharded OUT SHARDS GEN_FUNCTION
#
# GEN_FUNCTION OUT [extra options] must run `synrank generate ... --out OUT "$@"`. With SHARDS <= 1 it runs
# once (resumable inside itself); otherwise shard I of N goes to OUT-stem.shardI.jsonl with one thread each
# (for several machines or GPUs; on one CPU a single engine on all cores is as fast: docs/benchmarks.md), then the shards and their rejects are
# joined with `synrank generate --merge`. OUT appears only when every shard has finished.
generate_sharded() {
  local out="$1" shards="$2" fn="$3" stem="${1%.jsonl}" pids=() i
  if [ "$shards" -le 1 ]; then "$fn" "$out"; return; fi
  [ -f "$out" ] && return 0
  for ((i = 0; i < shards; i++)); do "$fn" "$stem.shard$i.jsonl" --shard "$i/$shards" --threads 1 & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i"; done
  synrank generate --merge "$stem".shard*.jsonl.rejects.jsonl --out "$out.rejects.jsonl"
  synrank generate --merge $(ls "$stem".shard*.jsonl | grep -v rejects) --out "$out"
}
