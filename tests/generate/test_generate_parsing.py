"""Templates, level scales, answer parsing, duplicate checks and shards (pure Python, fast)."""

from __future__ import annotations

import difflib

import pytest

from synrank.errors import ConfigError, InputError
from synrank.generate.levels import default_definitions, read_definitions
from synrank.generate.parsing import DuplicateFilter, ParseFailure, normalise, parse_answer
from synrank.generate.shard import in_shard, parse_shard
from synrank.generate.templates import list_templates, load_packaged, load_template_file, parse_template


# --- templates ---------------------------------------------------------------------------------


def test_packaged_templates_cover_docs_and_all_query_types():
    names = {t.name: t for t in list_templates()}
    assert names["docs"].task == "docs" and names["docs"].output == "json:passage"
    for qtype in ("question", "claim", "keywords", "title", "search"):
        t = names[f"queries-{qtype}"]
        assert t.task == "queries" and t.query_type == qtype and t.json_key == "query"
        # The prefix opens the JSON object the template asks for, so prefix + answer parses.
        assert parse_answer(t.output, t.prefix + 'who is it"}') == "who is it"


def test_render_fills_placeholders_and_keeps_json_braces():
    t = load_packaged("docs")
    req = t.render({"query": "do goldfish grow", "level": "2", "level_definition": "X", "scale": "S", "max_level": "3", "index": "0"}, seed=7)
    user = req.messages[-1]["content"]
    assert "Query: do goldfish grow" in user and "grade 2 (X)" in user
    assert '{"passage": "..."}' in user  # literal JSON is not a placeholder
    assert req.messages[0]["role"] == "system" and req.prefix == '{"passage": "' and req.seed == 7
    assert "{{" not in user


def test_unknown_placeholder_names_file_and_line(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_text("# task: docs\n### user\nQuery: {{query}}\nAbout {{topic}} please\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_template_file(p)
    assert err.value.line == 4 and "topic" in err.value.message and str(p) == err.value.path


@pytest.mark.parametrize(
    "text,problem",
    [
        ("# task: docs\n### system\nhi\n", "no '### user'"),
        ("# task: docs\n### user\na\n### user\nb\n", "appears twice"),
        ("# task: docs\n### shout\nx\n", "unknown template section"),
        ("# task: other\n### user\nx\n", "task must be"),
        ("# task: docs\n# output: yaml\n### user\nx\n", "output must be"),
        ("stray text\n### user\nx\n", "before the first"),
    ],
)
def test_malformed_templates(text, problem):
    with pytest.raises(InputError, match=problem):
        parse_template(text, source="t.txt", name="t")


def test_template_task_mismatch(tmp_path):
    p = tmp_path / "q.txt"
    p.write_text("# task: queries\n### user\n{{passage}}\n", encoding="utf-8")
    with pytest.raises(InputError, match="'queries' template but the task is 'docs'"):
        load_template_file(p, expected_task="docs")


# --- levels --------------------------------------------------------------------------------------


def test_four_levels_follow_trec_dl_scale():
    d = default_definitions(4)
    assert list(d) == [3, 2, 1, 0]
    assert "perfectly relevant" in d[3] and "exact answer" in d[3]
    assert "highly relevant" in d[2] and "related" in d[1] and "does not answer" in d[1]
    assert "irrelevant" in d[0]


@pytest.mark.parametrize("n", [2, 3, 5, 6, 10])
def test_other_level_counts_have_distinct_definitions(n):
    d = default_definitions(n)
    assert sorted(d) == list(range(n))
    assert len(set(d.values())) == n
    assert "irrelevant" in d[0]


def test_bad_level_counts():
    for n in (0, 1, 11):
        with pytest.raises(ConfigError):
            default_definitions(n)


def test_level_definitions_file(tmp_path):
    p = tmp_path / "defs.tsv"
    p.write_text("2\tspot on\n1\tsort of\n0\tno\n", encoding="utf-8")
    assert read_definitions(p, 3) == {2: "spot on", 1: "sort of", 0: "no"}
    j = tmp_path / "defs.json"
    j.write_text('{"1": "yes", "0": "no"}', encoding="utf-8")
    assert read_definitions(j, 2) == {1: "yes", 0: "no"}
    with pytest.raises(InputError, match="no definition for level"):
        read_definitions(j, 3)
    p.write_text("2\tspot on\n7\tbad\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_definitions(p, 3)
    assert err.value.line == 2


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        ('{"passage": "Goldfish grow."}', "Goldfish grow."),
        ('Sure! Here it is:\n```json\n{"passage": "Goldfish\\n grow  big."}\n```', "Goldfish grow big."),
        ('{"passage": "A {braced} text"} trailing words {"passage": "second"}', "A {braced} text"),
        ('noise {not json} then {"passage": "ok"}', "ok"),
    ],
)
def test_parse_json_answers(raw, expected):
    assert parse_answer("json:passage", raw) == expected


@pytest.mark.parametrize(
    "raw,truncated,reason",
    [
        ("Goldfish grow in big ponds.", False, "no JSON object"),
        ('{"passage": "unterminated', False, "bad JSON"),
        ('{"passage": "unterminated', True, "cut off"),
        ('{"text": "wrong key"}', False, "no string field 'passage'"),
        ('{"passage": 3}', False, "no string field"),
        ('{"passage": "   "}', False, "empty"),
        ('{"passage": "..."}', False, "empty"),
    ],
)
def test_parse_failures_have_reasons(raw, truncated, reason):
    with pytest.raises(ParseFailure, match=reason):
        parse_answer("json:passage", raw, truncated=truncated)


def test_text_output_collapses_whitespace_and_rejects_empty():
    assert parse_answer("text", "  a\n b  ") == "a b"
    with pytest.raises(ParseFailure, match="empty"):
        parse_answer("text", " \n ")


def test_duplicates_exact_and_near_within_group_only():
    f = DuplicateFilter(0.9)
    f.add("q1", "d1", "Goldfish keep growing throughout their lives.")
    assert f.check("q1", "goldfish KEEP growing, throughout their lives!") == "d1"  # same after normalising
    assert f.check("q2", "Goldfish keep growing throughout their lives.") is None  # other query: allowed
    assert f.check("q1", "Cats sleep for most of the day and night.") is None


def test_near_duplicate_threshold_matches_difflib_ratio():
    a = "the great wall of china is visible from low orbit on clear days"
    b = "the great wall of china is visible from low orbit on cloudy days"
    ratio = difflib.SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio()
    assert 0.9 < ratio < 1.0  # independent reference for the two cases below
    loose, strict = DuplicateFilter(0.9), DuplicateFilter(1.0)
    for f in (loose, strict):
        f.add("q", "d1", a)
    assert loose.check("q", b) == "d1"
    assert strict.check("q", b) is None


# --- shards --------------------------------------------------------------------------------------


def test_shards_cover_every_input_exactly_once():
    keys = [f"q{i}" for i in range(1000)] + ["1048585", "caf\u00e9", ""]
    for n in (1, 2, 3, 7):
        counts = [sum(in_shard(k, (i, n)) for i in range(n)) for k in keys]
        assert set(counts) == {1}
        sizes = [sum(in_shard(k, (i, n)) for k in keys) for i in range(n)]
        assert min(sizes) > len(keys) / n * 0.8  # roughly balanced


def test_parse_shard():
    assert parse_shard(None) == (0, 1)
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "1/0", "a/b", "1-4", "-1/4"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
