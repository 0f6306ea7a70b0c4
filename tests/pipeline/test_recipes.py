"""The recipe files under examples/recipes/: valid for every command, and the reference recipes equal to the
reference code, value by value.

The tables below were read off the reference repositories (CADeT: manveertamber/cadet-dense-retrieval at b2f0831;
SyCL: BatsResearch/sycl at ce15a94 on BatsResearch/trove at 41fa33e), each value with the file:line it comes from.
They are written out here, apart from the recipe files, so that an edit to a recipe that drifts from the reference
fails this test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synrank.config import coerce_settings, from_mapping, read_config_file

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"

CADET = {  # manveertamber/cadet-dense-retrieval @ b2f0831
    "generate": {
        "task": ("queries", "query_gen_scripts/*_gen_vllm.py"),
        "types": ("title,claim,question,keywords,msmarco,natural", "query_gen_scripts/: title, claims, question, keywords, msmarco_query, random"),
        "model": ("meta-llama/Meta-Llama-3.1-8B-Instruct", "query_generation/query_gen_scripts/question_gen_vllm.py:9"),
        "backend": ("vllm", "question_gen_vllm.py:7,10"),
        "temperature": (0.8, "question_gen_vllm.py:87"),
        "top_p": (1.0, "question_gen_vllm.py:87 (vLLM default)"),
        "max_new_tokens": (50, "question_gen_vllm.py:87"),
        "num_examples": (3, "question_gen_vllm.py:60"),
        "per_doc": (1, "question_gen_vllm.py:58-60"),
        "max_passage_tokens": (0, "question_gen_vllm.py:52 (2,048 characters only)"),
    },
    "search": {
        "k": (100, "query_generation/retriever_filtering_step.py:22"),
        "query_prefix": ("query: ", "training_scripts/train_e5_listwise.py:33"),
    },
    "score": {
        "fuse": ("rrf", "query_generation/retrieval_fusion.sh:27"),
        "rrf_k": (60, "query_generation/retrieval_fusion.py:22"),
        "depth": (20, "query_generation/retrieval_fusion.sh:16"),
        "require_source_in_top": (20, "query_generation/retriever_filtering_step.py:3,60"),
        "source_in_top_scope": ("per-input", "retriever_filtering_step.py:8-10"),
        "student_input": (1, "reranker/outputs/split_by_retriever.py:17,38"),
        "teacher": (["rankt5:Soyoung97/RankT5-base"], "reranker/run_reranking.py:35-37,63-67,281"),
        "teacher_activation": ("none", "reranker/run_reranking.py:67"),
        "rankt5_template": ("Query: {query} Document: {passage}", "reranker/run_reranking.py:130"),
        "rankt5_token": ("<extra_id_10>", "reranker/run_reranking.py:33,67"),
        "max_length": (512, "reranker/run_reranking.py:288"),
        "require_source_top1": (True, "reranker/filter_by_reranker.py:34"),
        "min_list_size": (20, "reranker/filter_by_reranker.py:34"),
        "drop_bottom_pct": (25.0, "reranker/normalize_scores.py:27,38"),
        "drop_bottom_by": ("score-percentile", "reranker/normalize_scores.py:27,38"),
        "normalize": ("pct-minmax", "reranker/normalize_scores.py:28-29,44-45"),
        "pct_low": (1.0, "reranker/normalize_scores.py:28"),
        "pct_high": (99.0, "reranker/normalize_scores.py:29"),
        "pct_stats": ("all-candidates", "reranker/normalize_scores.py:21-25"),
        "stats_by": ("query-type", "reranker/normalize_scores.py:13-19"),
        "list_size": (20, "reranker/normalize_scores.py:47"),
    },
    "train": {
        "model": ("intfloat/e5-base-unsupervised", "training_scripts/train_e5_listwise.py:38"),
        "query_prefix": ("query: ", "train_e5_listwise.py:33,100"),
        "doc_prefix": ("passage: ", "train_e5_listwise.py:152"),
        "loss": ("kl+infonce", "train_e5_listwise.py:320"),
        "similarity": ("cosine", "train_e5_listwise.py:61"),
        "temperature": (0.05, "train_e5_listwise.py:30,183"),
        "teacher_temperature": (0.3, "train_e5_listwise.py:31,184"),
        "infonce_weight": (0.1, "train_e5_listwise.py:32,320"),
        "infonce_temperature": (0.01, "train_e5_listwise.py:26,255-257"),
        "fn_margin": (0.6, "train_e5_listwise.py:40,226"),
        "group_size": (20, "train_e5_listwise.py:24,86"),
        "selection": ("top", "train_e5_listwise.py:86,150"),
        "batch_size": (4096, "train_e5_listwise.py:25,28,305 (16 x 256)"),
        "lr": (2e-4, "train_e5_listwise.py:29"),
        "weight_decay": (0.01, "train_e5_listwise.py:37"),
        "lr_schedule": ("cadet", "train_e5_listwise.py:463-477"),
        "lr_floor": (0.1, "train_e5_listwise.py:474"),
        "warmup_epochs": (0.5, "train_e5_listwise.py:464-465"),
        "warmup_min_steps": (10, "train_e5_listwise.py:465"),
        "epochs": (30.0, "train_e5_listwise.py:36"),
        "max_grad_norm": (1.0, "train_e5_listwise.py:335"),
        "max_seq_length": (512, "train_e5_listwise.py:35"),
        "dropout": (0.0, "train_e5_listwise.py:27,50-51"),
        "dtype": ("bf16", "train_e5_listwise.py:68,370"),
        "eval_split": (0.1, "reranker/create_train_dev_data.py:31,50"),
        "eval_at_start": (True, "train_e5_listwise.py:489-491"),
        "save_steps": (0, "train_e5_listwise.py:489-517"),
        "early_stopping_patience": (2, "train_e5_listwise.py:510"),
        "early_stopping_metric": ("loss-or-kl", "train_e5_listwise.py:493-501"),
    },
    "index": {
        "model": ("intfloat/e5-base-unsupervised", "train_e5_listwise.py:38"),
        "doc_prefix": ("passage: ", "train_e5_listwise.py:152"),
    },
    "eval": {"query_prefix": ("query: ", "train_e5_listwise.py:33")},
}

SYCL = {  # BatsResearch/sycl @ ce15a94, BatsResearch/trove @ 41fa33e
    "generate": {
        "task": ("docs", "sycl data_configs/synth_multilevel.json:5-6 (graded synthetic corpus)"),
        "levels": (4, "sycl data_configs/synth_multilevel.json:6"),
        "model": ("meta-llama/Llama-3.3-70B-Instruct", "sycl data_configs/synth_multilevel.json:5-6 (llama33_70b)"),
        "backend": ("vllm", "the release generates on GPUs"),
    },
    "train": {
        "model": ("facebook/contriever", "sycl README.md:97"),
        "loss": ("ws2", "sycl README.md:101; train.py:24-25"),
        "similarity": ("dot", "sycl README.md:100; trove modeling/pretrained_encoder.py:221-233"),
        "temperature": (1.0, "trove modeling/model_args.py:36; sycl train.py:101"),
        "teacher_temperature": (1.0, "sycl train.py:102"),
        "in_batch": (True, "sycl train.py:98-99"),
        "group_size": (4, "sycl README.md:103"),
        "selection": ("uniform", "sycl README.md:104; trove data/ir_dataset_multilevel.py:397"),
        "redraw": (True, "trove data/ir_dataset_multilevel.py:397"),
        "batch_size": (64, "sycl README.md:93,110 (16 per GPU x 4 GPUs)"),
        "grad_accumulation": (4, "sycl README.md:114"),
        "lr": (1e-5, "sycl README.md:111"),
        "epochs": (1.0, "sycl README.md:112"),
        "warmup": (0.05, "sycl README.md:115"),
        "lr_schedule": ("warmup-decay-log", "sycl deepspeed_conf.json:49-56"),
        "lr_floor": (0.0, "sycl deepspeed_conf.json:49-56"),
        "weight_decay": (0.0, "sycl deepspeed_conf.json:44 (TrainingArguments default)"),
        "max_grad_norm": (1.0, "sycl deepspeed_conf.json:60 (TrainingArguments default)"),
        "max_seq_length": (256, "sycl README.md:105-106"),
        "dtype": ("fp32", "sycl deepspeed_conf.json:22-37; README.md:93-118"),
    },
    "index": {"model": ("facebook/contriever", "sycl README.md:97")},
}

REFERENCES = {"cadet-reference.yaml": CADET, "sycl-reference.yaml": SYCL}


def _config_classes():
    from synrank.evaluate.stage import EvalConfig
    from synrank.generate.config import GenerateConfig
    from synrank.index.stage import IndexConfig
    from synrank.score.stage import ScoreConfig
    from synrank.search.stage import SearchConfig
    from synrank.train.config import TrainConfig

    return {"generate": GenerateConfig, "search": SearchConfig, "score": ScoreConfig, "train": TrainConfig,
            "index": IndexConfig, "eval": EvalConfig}


# What each config needs besides the recipe to be built (inputs and outputs come from the script).
_REQUIRED = {
    "generate": {"input": "corpus"},
    "search": {"source": "idx", "queries": "q.jsonl"},
    "score": {"inputs": ["dense.jsonl"], "corpus": "corpus"},
    "train": {"inputs": ["lists.jsonl"], "out": "m"},
    "index": {"corpus": "corpus", "out": "idx"},
    "eval": {"index": "idx", "dataset": "corpus"},
}


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_every_recipe_builds_every_stage_config(recipe):
    classes = _config_classes()
    for stage, cls in classes.items():
        values = coerce_settings(cls, read_config_file(RECIPES / recipe, stage), path=RECIPES / recipe)
        from_mapping(cls, {**_REQUIRED[stage], **values})  # validated as a run would be


@pytest.mark.parametrize("recipe", sorted(REFERENCES))
def test_reference_recipes_equal_the_reference_code(recipe):
    table = REFERENCES[recipe]
    classes = _config_classes()
    for stage, cls in classes.items():
        got = coerce_settings(cls, read_config_file(RECIPES / recipe, stage), path=RECIPES / recipe)
        expected = {name: value for name, (value, _where) in table.get(stage, {}).items()}
        # Both ways: no reference value missing or different, and no setting in the recipe without a reference.
        assert got == expected, f"{recipe} [{stage}]"
        assert all(where for _value, where in table.get(stage, {}).values())


@pytest.mark.parametrize(("cpu", "reference"), [("cadet-cpu.yaml", "cadet-reference.yaml"), ("sycl-cpu.yaml", "sycl-reference.yaml")])
def test_cpu_recipes_derive_from_the_reference_and_say_why_they_depart(cpu, reference):
    lines = (RECIPES / cpu).read_text(encoding="utf-8").splitlines()
    assert f"extends: {reference}" in lines
    settings = [line for line in lines if line.startswith("  ") and not line.strip().startswith("#")]
    assert settings and all("#" in line for line in settings), [line for line in settings if "#" not in line]


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_the_student_is_the_same_in_every_stage(recipe):
    path = RECIPES / recipe
    train = read_config_file(path, "train")
    index = read_config_file(path, "index")
    assert index.get("model") == train.get("model")
    assert index.get("doc_prefix", "") == train.get("doc_prefix", "")
    for stage in ("search", "eval"):
        assert read_config_file(path, stage).get("query_prefix", "") == train.get("query_prefix", "")


# The types each recipe asks for, written out here (the reference's six; the CPU recipe's four).
FIRST_STEP_SLOTS = {
    "cadet-reference.yaml": ["title", "claim", "question", "keywords", "msmarco", "natural"],
    "cadet-cpu.yaml": ["question", "claim", "keywords", "title"],
    "sycl-reference.yaml": ["L3", "L2", "L1", "L0"],
    "sycl-cpu.yaml": ["L3", "L2", "L1", "L0"],
}


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_each_recipe_runs_its_first_step_from_the_command_line(recipe, tmp_path, capsys):
    """`synrank generate --config RECIPE` on one passage (or query), as far as a step runs without the GPU's model:
    the prompts it would send, one per query type (CADeT) or relevance level (SyCL)."""
    from synrank.cli.main import main

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "title": "Aspirin", "text": "Low-dose aspirin lowers the risk of a first heart attack."}\n')
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tdoes aspirin prevent heart attacks\n")
    first = corpus if recipe.startswith("cadet") else queries
    assert main(["generate", str(first), "--config", str(RECIPES / recipe), "--dry-run"]) == 0
    heads = [line for line in capsys.readouterr().out.splitlines() if line.startswith("===== ")]
    slots = [head.split()[1] for head in heads]
    assert sorted(s.split("-")[1] for s in slots) == sorted(FIRST_STEP_SLOTS[recipe])
    assert not (tmp_path / "queries.jsonl").exists() and len(list(tmp_path.iterdir())) == 2  # a dry run writes nothing
