"""The generate stage as a library: config defaults against the CADeT reference, the query-type templates
and their JSON schemas, per-type few-shot files, the passage cap, reject categories, and the backend being
closed on every path. A scripted backend answers by template so every expected outcome is known."""

from __future__ import annotations

import json

import pytest

from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import Document
from synrank.generate import CADET_TYPES, V1_TYPES, GenerateConfig, build_task, run
from synrank.generate.engine import SlotEngine
from synrank.generate.examples import packaged_examples
from synrank.generate.passages import PassageCap
from synrank.generate.runner import sampling_for
from synrank.generate.templates import load_packaged
from synrank.llm.base import Completion, SamplingConfig

DOC = Document("d1", "Cats purr at a frequency of 25 to 150 hertz, which may help bones heal. " * 3, "Why cats purr")

# --- defaults equal the reference (manveertamber/cadet-dense-retrieval, query_generation/query_gen_scripts) ---


def test_default_query_types_and_sampling_follow_cadet():
    cfg = GenerateConfig(task="queries", input="x")
    # title_gen, claims_gen, question_gen, keywords_gen, msmarco_query_gen, random_query_gen
    assert build_task(cfg).templates().keys() == {"title", "claim", "question", "keywords", "msmarco", "natural"}
    assert list(build_task(cfg).templates()) == list(CADET_TYPES)
    s = sampling_for(cfg, build_task(cfg))
    assert s.temperature == 0.8  # SamplingParams(temperature=0.8) in every script
    assert s.top_p == 1.0  # vLLM's default: the scripts set none
    assert cfg.num_examples == 3  # random.sample(examples, 3)
    # The docs task keeps its own defaults.
    d = GenerateConfig(input="x")
    assert (sampling_for(d, build_task(d)).temperature, sampling_for(d, build_task(d)).top_p) == (0.7, 0.95)
    # An explicit value wins over the task's default.
    assert sampling_for(GenerateConfig(task="queries", temperature=0.0), build_task(cfg)).temperature == 0.0


def test_presets_expand_and_v1_templates_stay_available():
    assert list(build_task(GenerateConfig(task="queries", types="v1")).templates()) == list(V1_TYPES)
    assert list(build_task(GenerateConfig(task="queries", types="cadet,search")).templates()) == [*CADET_TYPES, "search"]
    with pytest.raises(ConfigError) as e:
        build_task(GenerateConfig(task="queries", types="cadet,title"))
    assert e.value.setting == "types" and "twice" in e.value.message


# --- templates and schemas ---


def _schema(key, max_len=None):
    prop = {"type": "string", "minLength": 1}
    if max_len:
        prop["maxLength"] = max_len
    return {"type": "object", "properties": {key: prop}, "required": [key], "additionalProperties": False}


@pytest.mark.parametrize("qtype", CADET_TYPES + V1_TYPES)
def test_every_query_template_renders_with_its_schema(qtype):
    task = build_task(GenerateConfig(task="queries", types=qtype))
    (slot,) = task.slots(DOC.doc_id, DOC)
    req = slot.template.render(slot.values)
    user = req.messages[-1]["content"]
    assert "{{" not in user and "Cats purr" in user and "Why cats purr" in user
    assert req.prefix == '{"query": "'
    expected = _schema("query", 200 if qtype in CADET_TYPES else None)
    assert req.json_schema == expected
    assert slot.template.json_schema == expected


def test_cadet_prompts_carry_the_reference_rules():
    """The rules CADeT's prompts state (in synrank's own words): stand alone, no long copied phrases,
    under 20 words; keywords: up to 5, comma-separated; the natural type is zero-shot."""
    for qtype in CADET_TYPES:
        user = load_packaged(f"queries-{qtype}").user.lower()
        assert "copy long phrases" in user or "lifted from the passage" in user, qtype
        if qtype == "keywords":
            assert "up to 5" in user and "commas" in user
        else:
            assert "under 20 words" in user and ("on its own" in user or "without" in user), qtype
        assert ("{{examples}}" in load_packaged(f"queries-{qtype}").user) == (qtype != "natural")
    assert "key point" in load_packaged("queries-claim").user


def test_docs_template_schema_and_text_templates_have_none(tmp_path):
    assert load_packaged("docs").json_schema == _schema("passage")
    p = tmp_path / "t.txt"
    p.write_text("# task: queries\n# output: text\n### user\n{{passage}}\n", encoding="utf-8")
    task = build_task(GenerateConfig(task="queries", types="t", template=[f"t={p}"]))
    (slot,) = task.slots(DOC.doc_id, DOC)
    assert slot.template.render(slot.values).json_schema is None


# --- few-shot examples ---


def test_examples_per_type_files_replace_the_packaged_ones(tmp_path):
    claims = tmp_path / "claims.jsonl"
    claims.write_text('{"passage": "Owls hunt at night.", "query": "OWL-CLAIM", "type": "whatever"}\n', encoding="utf-8")
    marco = tmp_path / "marco.tsv"
    marco.write_text("what do owls eat\tOwls eat mice and voles.\nMARCO-Q2\tSecond passage.\n", encoding="utf-8")
    cfg = GenerateConfig(task="queries", examples=[f"claim={claims}", f"msmarco={marco}"], seed=1)
    slots = {s.info["type"]: s for s in build_task(cfg).slots(DOC.doc_id, DOC)}
    # CADeT types send their examples as earlier chat turns: user (the same prompt for the example's passage),
    # assistant (the example's answer in the output format), then the target passage.
    msgs = slots["claim"].request().messages
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]  # the file's only example
    assert "Owls hunt at night." in msgs[1]["content"] and "Cats purr" not in msgs[1]["content"]
    assert json.loads(msgs[2]["content"]) == {"query": "OWL-CLAIM"}
    assert "Cats purr" in msgs[3]["content"] and "Owls" not in msgs[3]["content"]
    marco_msgs = slots["msmarco"].request().messages
    answers = {json.loads(m["content"])["query"] for m in marco_msgs if m["role"] == "assistant"}
    assert answers == {"what do owls eat", "MARCO-Q2"}  # TSV is query<TAB>passage
    assert any("Owls eat mice and voles." in m["content"] for m in marco_msgs if m["role"] == "user")
    # A type without a file uses synrank's packaged examples for that type, three per prompt.
    packaged_titles = {e.query for e in packaged_examples() if e.type == "title"}
    title_msgs = slots["title"].request().messages
    shown = [json.loads(m["content"])["query"] for m in title_msgs if m["role"] == "assistant"]
    assert len(shown) == 3 and set(shown) <= packaged_titles
    assert [m["role"] for m in slots["natural"].request().messages] == ["system", "user"]  # zero-shot


def test_examples_as_text_in_v1_and_custom_templates(tmp_path):
    ex = tmp_path / "ex.jsonl"
    ex.write_text('{"passage": "Owls hunt at night.", "query": "OWL-Q"}\n', encoding="utf-8")
    (slot,) = build_task(GenerateConfig(task="queries", types="question-v1", examples=[str(ex)])).slots(DOC.doc_id, DOC)
    msgs = slot.request().messages
    assert len(msgs) == 2 and "Passage: Owls hunt at night.\nQuery: OWL-Q" in msgs[-1]["content"]


def test_untyped_examples_file_serves_every_type(tmp_path):
    ex = tmp_path / "ex.jsonl"
    ex.write_text('{"passage": "P1.", "query": "ANY"}\n', encoding="utf-8")
    slots = build_task(GenerateConfig(task="queries", types="title,question", examples=[str(ex)])).slots(DOC.doc_id, DOC)
    assert all(any("ANY" in m["content"] for m in s.request().messages) for s in slots)


def test_bad_examples_specs(tmp_path):
    ex = tmp_path / "ex.tsv"
    ex.write_text("only one column\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        build_task(GenerateConfig(task="queries", examples=[f"title={ex}"]))
    assert e.value.line == 1 and "2 tab-separated columns" in e.value.message
    with pytest.raises(ConfigError) as e:
        build_task(GenerateConfig(task="queries", examples=[f"riddle={ex}"]))
    assert e.value.setting == "examples" and "'riddle'" in e.value.message


def test_packaged_examples_cover_every_few_shot_type_with_at_least_three():
    by_type = {}
    for e in packaged_examples():
        by_type.setdefault(e.type, []).append(e)
    assert set(by_type) == {"title", "claim", "question", "keywords", "msmarco"}
    assert all(len(v) >= 3 for v in by_type.values())
    assert all(len(e.query.split(",")) <= 5 for e in by_type["keywords"])


# --- passage cap (issue 11.5) ---


def test_passage_cap_characters_then_whitespace_tokens():
    text = " ".join(f"w{i:04d}" for i in range(1000))  # 5 chars + space per word
    cut = PassageCap(0)(text)
    assert len(cut) <= 2048 and text.startswith(cut) and cut.split()[-1] == "w0340"  # 341 whole words fit
    assert PassageCap(100)(text).split() == [f"w{i:04d}" for i in range(75)]  # 0.75 words per token
    assert PassageCap(100)("short text") == "short text"


def test_passage_cap_with_a_real_tokenizer(minilm_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    text = "Photosynthesis converts light energy into chemical energy stored in glucose molecules. " * 20
    cap = PassageCap(50, tok)
    cut = cap(text)
    n = len(tok(cut, add_special_tokens=False)["input_ids"])
    assert text.startswith(cut) and 40 <= n <= 50  # at most the budget, minus at most the last word's pieces
    assert len(tok(text, add_special_tokens=False)["input_ids"]) > 50
    assert "tokenizer" in cap.counter and "whitespace" in PassageCap(50).counter


def test_passage_cap_is_applied_in_query_prompts():
    long_doc = Document("d2", " ".join(["alpha"] * 600), "")
    task = build_task(GenerateConfig(task="queries", types="natural", max_passage_tokens=40))
    (slot,) = task.slots("d2", long_doc)
    assert slot.values["passage"].split() == ["alpha"] * 30


# --- run(): results, rejects with reasons, backend closed ---


class ScriptedBackend:
    """Answers by query type: a fixed text per type (``None`` raises KeyboardInterrupt, like Ctrl-C)."""

    name = "scripted"
    supports_prefix = True

    def __init__(self, answers):
        self.answers = answers
        self.closed = False
        self.schemas = []

    def generate(self, requests, sampling):
        out = []
        for r in requests:
            self.schemas.append(r.json_schema)
            user = r.messages[-1]["content"]
            qtype = next(t for t in self.answers if f"TYPE={t}" in user)
            answer = self.answers[qtype]
            if answer is None:
                raise KeyboardInterrupt
            out.append(Completion(text=answer, completion_tokens=3, finish_reason="length" if answer == "cut" else "stop"))
        return out

    def info(self):
        return {"backend": self.name}

    def close(self):
        self.closed = True


@pytest.fixture
def scripted(monkeypatch, tmp_path):
    holder = {}

    def fake_create(name, opts):
        return holder["backend"]

    monkeypatch.setattr("synrank.llm.factory.create_backend", fake_create)
    monkeypatch.setattr("synrank.llm.factory.resolve_backend_name", lambda name, model=None: "transformers")
    monkeypatch.setattr("synrank.runtime.seeding.set_threads", lambda n: 1)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": f"passage number {i} about things"}) + "\n" for i in range(2)))
    templates = []
    for t in ("good", "dup", "bad", "cut", "short"):
        p = tmp_path / f"{t}.txt"
        p.write_text(f"# task: queries\n# output: json:query\n### user\nTYPE={t} {{{{passage}}}}\n### assistant\n{{\"query\": \"\n")
        templates.append(f"{t}={p}")
    return holder, corpus, templates


def test_run_returns_counts_and_writes_reject_categories(scripted, tmp_path):
    holder, corpus, templates = scripted
    holder["backend"] = ScriptedBackend(
        {"good": 'a fine query about things"}', "dup": 'a fine query about things!"}', "bad": "no json here",
         "cut": "cut", "short": '"}'}
    )
    out = tmp_path / "q.jsonl"
    cfg = GenerateConfig(input=str(corpus), task="queries", types="good,dup,bad,cut,short", template=templates, out=out,
                         max_retries=1, min_words=1)
    res = run(cfg, progress=False)
    assert holder["backend"].closed
    assert res.accepted == 2 and res.rejected == 8 and res.records_written == 2 and res.inputs == 2
    assert res.prompts == 2 * 5 + 8  # every rejected slot asked twice
    assert res.reject_reasons == {"duplicate": 2, "parse": 2, "truncated": 2, "empty": 2}
    rejects = [json.loads(line) for line in (tmp_path / "q.jsonl.rejects.jsonl").read_text().splitlines()]
    by_type = {(r["unit"], r["type"]): r for r in rejects}
    assert by_type[("d0", "dup")]["reason"] == "duplicate" and by_type[("d0", "dup")]["kinds"] == ["duplicate", "duplicate"]
    assert by_type[("d0", "bad")]["reason"] == "parse" and by_type[("d0", "cut")]["reason"] == "truncated"
    assert by_type[("d1", "short")]["reason"] == "empty"
    assert all(s == _schema("query") for s in holder["backend"].schemas)
    manifest = json.loads((tmp_path / "q.jsonl.manifest.json").read_text())
    assert manifest["stats"]["reject_reasons"] == res.reject_reasons
    assert manifest["config"]["max_passage_tokens"] == 256 and manifest["passage_tokens"].startswith("whitespace")


def test_too_short_is_its_own_category():
    task = build_task(GenerateConfig(task="queries", types="natural"))

    class OneWord(ScriptedBackend):
        def generate(self, requests, sampling):
            return [Completion(text='cats"}') for _ in requests]

    engine = SlotEngine(OneWord({}), SamplingConfig(seed=1), max_retries=0, min_words=3)
    (res,) = engine.run(task.slots(DOC.doc_id, DOC))
    assert res.text is None and res.kinds == ["too_short"]


def test_backend_closed_on_ctrl_c_and_nothing_left_when_no_record_was_written(scripted, tmp_path):
    holder, corpus, templates = scripted
    holder["backend"] = ScriptedBackend({"good": None})
    out = tmp_path / "q.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run(GenerateConfig(input=str(corpus), task="queries", types="good", template=templates, out=out), progress=False)
    assert holder["backend"].closed
    # Issue 31.12: no record written, so no empty output, manifest or stamp is left to look like a result.
    assert not out.exists() and not list(tmp_path.glob("*q.jsonl*"))


def test_library_errors_name_settings():
    for kwargs, setting in [({"levels": 1}, "levels"), ({"shard": "3/3"}, "shard"), ({"task": "poems"}, "task"),
                            ({"temperature": 9.0}, "temperature"), ({"per_doc": 0}, "per_doc"),
                            ({"max_passage_tokens": -1}, "max_passage_tokens"), ({"backend": "nope"}, "backend")]:
        with pytest.raises(ConfigError) as e:
            GenerateConfig(**kwargs)
        assert e.value.setting == setting and "--" not in e.value.message, (kwargs, e.value.message)


def test_an_answer_copying_a_few_shot_example_is_rejected_as_duplicate():
    """Small models sometimes answer with an example's query; that is never a query for the target passage."""
    task = build_task(GenerateConfig(task="queries", types="question", seed=3))
    (slot,) = task.slots(DOC.doc_id, DOC)
    copied = slot.avoid[0]
    assert any(copied in m["content"] for m in slot.request().messages)

    class Copier(ScriptedBackend):
        def generate(self, requests, sampling):
            return [Completion(text=copied.upper() + '"}') for _ in requests]  # case differs: still a copy

    (res,) = SlotEngine(Copier({}), SamplingConfig(seed=1), max_retries=1).run([slot])
    assert res.text is None and res.kinds == ["duplicate", "duplicate"] and "few-shot" in res.reasons[0]
