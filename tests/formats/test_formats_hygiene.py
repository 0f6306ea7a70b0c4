"""Reader hygiene shared by every input format: BOM, UTF-8 line numbers, ids, finite numbers, gzip, empty docs."""

from __future__ import annotations

import gzip
import json
import warnings

import pytest

from synrank.errors import InputError, InputWarning
from synrank.formats import iter_corpus, read_qrels, read_queries, read_trec_run
from synrank.formats.io import iter_jsonl, open_text

BOM = b"\xef\xbb\xbf"


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


# --- BOM ---------------------------------------------------------------------------------------------


def test_bom_is_stripped_in_every_reader(tmp_path):
    q = read_queries(_write(tmp_path / "q.tsv", BOM + b"1\tfirst\n2\tsecond\n"))
    assert list(q) == ["1", "2"]
    run = read_trec_run(_write(tmp_path / "r.trec", BOM + b"1 Q0 d1 1 2.5 t\n1 Q0 d2 2 1.5 t\n"))
    assert run == {"1": {"d1": 2.5, "d2": 1.5}}
    qrels = read_qrels(_write(tmp_path / "qrels.tsv", BOM + b"query-id\tcorpus-id\tscore\n1\td1\t1\n"))
    assert qrels == {"1": {"d1": 1}}
    docs = list(iter_corpus(_write(tmp_path / "c.jsonl", BOM + b'{"_id":"d1","text":"x"}\n')))
    assert [d.doc_id for d in docs] == ["d1"]
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(BOM + b'{"_id":"d1","text":"x"}\n'))
    assert [d.doc_id for d in iter_corpus(gz)] == ["d1"]
    with open_text(_write(tmp_path / "r.json", BOM + b'{"a": 1}')) as fh:  # whole-file readers (compare)
        assert json.loads(fh.read()) == {"a": 1}


def test_bom_only_at_the_start_is_dropped(tmp_path):
    # A BOM in the middle of a file is content, not an encoding mark: it stays in the text.
    q = read_queries(_write(tmp_path / "q.tsv", b"1\ta\n2\t" + BOM + b"b\n"))
    assert q["2"] == "\ufeffb"


# --- UTF-8 -------------------------------------------------------------------------------------------


def test_invalid_utf8_is_reported_at_its_line(tmp_path):
    with pytest.raises(InputError, match=r"q.tsv:3: not valid UTF-8"):
        read_queries(_write(tmp_path / "q.tsv", b"1\ta\n2\tb\n3\t\xff\n"))
    with pytest.raises(InputError, match=r"c.jsonl:2: not valid UTF-8"):
        list(iter_corpus(_write(tmp_path / "c.jsonl", b'{"_id":"1","text":"a"}\n{"_id":"2","text":"\xc3"}\n')))


def test_line_numbers_count_blank_lines_and_crlf(tmp_path):
    with pytest.raises(InputError, match=r"q.tsv:4: expected 2 tab-separated columns"):
        read_queries(_write(tmp_path / "q.tsv", b"1\ta\r\n\r\n2\tb\r\nbad\r\n"))


# --- ids ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        ("c.jsonl", b'{"_id":"1","text":"a"}\n{"_id":"a b","text":"x"}\n', 2),
        ("c.jsonl", b'{"_id":"a\\nb","text":"x"}\n', 1),
        ("c.jsonl", b'{"_id":"a\\tb","text":"x"}\n', 1),
        ("c.tsv", b"1\ta\nx y\tb\n", 2),
    ],
)
def test_document_ids_with_whitespace_are_refused(tmp_path, name, data, line):
    with pytest.raises(InputError, match=rf"{name}:{line}: document id .* contains whitespace"):
        list(iter_corpus(_write(tmp_path / name, data)))


def test_query_and_qrels_ids_with_whitespace_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"q.jsonl:1: query id 'q 1' contains whitespace"):
        read_queries(_write(tmp_path / "q.jsonl", b'{"_id":"q 1","text":"a"}\n'))
    with pytest.raises(InputError, match=r"q.tsv:2: query id .* contains whitespace"):
        read_queries(_write(tmp_path / "q.tsv", "1\ta\n2\u00a03\tb\n".encode()))
    with pytest.raises(InputError, match=r"qrels.tsv:2: document id 'd 1' contains whitespace"):
        read_qrels(_write(tmp_path / "qrels.tsv", b"query-id\tcorpus-id\tscore\n1\td 1\t1\n"))
    with pytest.raises(InputError, match=r"qrels.jsonl:1: query id .* contains whitespace"):
        read_qrels(_write(tmp_path / "qrels.jsonl", b'{"query_id":"a\\nb","doc_id":"d","relevance":1}\n'))


def test_integer_ids_are_kept_as_text(tmp_path):
    docs = list(iter_corpus(_write(tmp_path / "c.jsonl", b'{"_id":7,"text":"a"}\n')))
    assert docs[0].doc_id == "7"


# --- finite numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_non_finite_run_scores_and_grades_are_refused(tmp_path, value):
    with pytest.raises(InputError, match=rf"r.trec:2: score '{value}' is not a finite number"):
        read_trec_run(_write(tmp_path / "r.trec", f"1 Q0 a 1 1.0 t\n1 Q0 b 2 {value} t\n".encode()))
    with pytest.raises(InputError, match=r"q.trec:1: relevance .* is not a finite number"):
        read_qrels(_write(tmp_path / "q.trec", f"1 0 d {value}\n".encode()))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_json_numbers_are_refused_with_their_line(tmp_path, token):
    p = _write(tmp_path / "lists.jsonl", f'{{"a": 1}}\n{{"score": {token}}}\n'.encode())
    with pytest.raises(InputError, match=r"lists.jsonl:2: bad JSON"):
        list(iter_jsonl(p))
    with pytest.raises(InputError, match=r"qrels.jsonl:1:"):
        read_qrels(_write(tmp_path / "qrels.jsonl", f'{{"query_id":"1","doc_id":"d","relevance":{token}}}\n'.encode()))


def test_finite_json_numbers_still_parse(tmp_path):
    p = _write(tmp_path / "l.jsonl", b'{"score": -1.5e300, "n": 3}\n')
    assert [o for _n, o in iter_jsonl(p)] == [{"score": -1.5e300, "n": 3}]


# --- gzip --------------------------------------------------------------------------------------------


def test_corrupt_and_truncated_gzip_is_one_input_error(tmp_path):
    full = gzip.compress(b"".join(b'{"_id":"%d","text":"word %d"}\n' % (i, i) for i in range(2000)))
    with pytest.raises(InputError, match=r"t.jsonl.gz: corrupt or truncated gzip file") as err:
        list(iter_corpus(_write(tmp_path / "t.jsonl.gz", full[: len(full) // 2])))
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"g.jsonl.gz: corrupt or truncated gzip file"):
        list(iter_corpus(_write(tmp_path / "g.jsonl.gz", b"this is not gzip\n")))
    flipped = bytearray(full)
    flipped[len(full) // 2] ^= 0xFF
    with pytest.raises(InputError, match=r"f.jsonl.gz: corrupt"):
        list(iter_corpus(_write(tmp_path / "f.jsonl.gz", bytes(flipped))))


# --- empty documents ---------------------------------------------------------------------------------


def test_empty_documents_are_kept_with_one_warning(tmp_path):
    lines = [b'{"_id":"1","text":"a"}', b'{"_id":"471","title":"","text":""}', b'{"_id":"2","text":"b"}', b'{"_id":"502","text":"  "}']
    p = _write(tmp_path / "corpus.jsonl", b"\n".join(lines) + b"\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = list(iter_corpus(p))
    assert [d.doc_id for d in docs] == ["1", "471", "2", "502"]
    assert [d.empty for d in docs] == [False, True, False, True]
    ours = [w for w in caught if issubclass(w.category, InputWarning)]
    assert len(ours) == 1
    assert "2 document(s) have an empty title and text (ids 471, 502)" in str(ours[0].message)


def test_empty_tsv_document(tmp_path):
    p = _write(tmp_path / "c.tsv", b"1\ttitle\ttext\n2\t\t\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        docs = list(iter_corpus(p))
    assert docs[1].doc_id == "2" and docs[1].empty


# --- synrank check -----------------------------------------------------------------------------------


def test_check_inputs_counts_and_cross_checks(tmp_path):
    from synrank.errors import ConfigError
    from synrank.formats.check import CheckConfig, check_inputs

    d = tmp_path / "ds"
    (d / "qrels").mkdir(parents=True)
    _write(d / "corpus.jsonl", b'{"_id":"a","text":"x"}\n{"_id":"b","text":""}\n')
    _write(d / "queries.jsonl", b'{"_id":"1","text":"q"}\n')
    _write(d / "qrels" / "test.tsv", b"query-id\tcorpus-id\tscore\n1\ta\t1\n1\tzz\t1\n2\ta\t1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_inputs(CheckConfig(dataset=str(d), split="test"))
    assert res.lines() == [
        f"{d / 'corpus.jsonl'}: 2 documents (1 empty)",
        f"{d / 'queries.jsonl'}: 1 queries",
        f"{d / 'qrels' / 'test.tsv'}: 3 judgments (2 queries)",
        f"note: {d / 'qrels' / 'test.tsv'}: 1 judged documents are not in the corpus (e.g. 'zz')",
        f"note: {d / 'qrels' / 'test.tsv'}: 1 judged queries have no query text (e.g. '2')",
    ]
    with pytest.raises(InputError, match="no qrels for split 'dev'"):
        check_inputs(CheckConfig(dataset=str(d), split="dev"))
    with pytest.raises(ConfigError, match="nothing to check"):
        CheckConfig()
