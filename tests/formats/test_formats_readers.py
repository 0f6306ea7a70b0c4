"""Readers: every accepted format round-trips; malformed input names file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synrank.errors import InputError
from synrank.formats import (
    AppendJsonlWriter,
    Document,
    atomic_dir,
    doc_text,
    iter_corpus,
    read_qrels,
    read_queries,
    read_trec_run,
    write_jsonl,
    write_qrels,
    write_trec_run,
)

QUERIES = {"q1": "what is a cell", "q2": "tab\u00e9 unicode query"}
DOCS = [Document("d1", "Cells are units of life.", "Cell"), Document("d2", "Mitochondria make ATP.", "")]
QRELS = {"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name,text",
    [
        ("q.tsv", "".join(f"{k}\t{v}\n" for k, v in QUERIES.items())),
        ("q_header.tsv", "qid\tquery\n" + "".join(f"{k}\t{v}\n" for k, v in QUERIES.items())),
        ("q.jsonl", "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items())),
        ("q2.jsonl", "".join(json.dumps({"query_id": k, "query": v}) + "\n" for k, v in QUERIES.items())),
    ],
)
def test_queries_formats_round_trip(tmp_path, name, text):
    assert read_queries(write(tmp_path / name, text)) == QUERIES


def test_queries_beir_folder(tmp_path):
    write(tmp_path / "queries.jsonl", "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items()))
    assert read_queries(tmp_path) == QUERIES


@pytest.mark.parametrize(
    "name,text",
    [
        ("c.jsonl", "".join(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n" for d in DOCS)),
        ("c.tsv", "".join(f"{d.doc_id}\t{d.title}\t{d.text}\n" for d in DOCS)),
        ("c_header.tsv", "id\ttitle\ttext\n" + "".join(f"{d.doc_id}\t{d.title}\t{d.text}\n" for d in DOCS)),
    ],
)
def test_corpus_formats_round_trip(tmp_path, name, text):
    assert list(iter_corpus(write(tmp_path / name, text))) == DOCS


def test_corpus_two_column_tsv_and_doc_text(tmp_path):
    docs = list(iter_corpus(write(tmp_path / "c.tsv", "d1\thello world\n")))
    assert docs == [Document("d1", "hello world")]
    assert doc_text(DOCS[0]) == "Cell Cells are units of life."
    assert doc_text(DOCS[0], use_title=False) == "Cells are units of life."


def test_corpus_real_scifact_first_docs(scifact_dir):
    docs = [d for _, d in zip(range(3), iter_corpus(scifact_dir))]
    assert docs[0].doc_id == "4983" and docs[0].title.startswith("Microstructural development")


@pytest.mark.parametrize("fmt", ["trec", "beir", "jsonl"])
def test_qrels_formats_round_trip(tmp_path, fmt):
    if fmt == "trec":
        p = tmp_path / "q.trec"
        write_qrels(QRELS, p)
    elif fmt == "beir":
        p = write(tmp_path / "q.tsv", "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, ds in QRELS.items() for d, g in ds.items()))
    else:
        p = write(tmp_path / "q.jsonl", "".join(json.dumps({"query_id": q, "doc_id": d, "relevance": g}) + "\n" for q, ds in QRELS.items() for d, g in ds.items()))
    assert read_qrels(p) == QRELS


def test_real_graded_qrels(msmarco_dir):
    qrels = read_qrels(msmarco_dir / "dl19-qrels.trec")
    assert len(qrels) == 43
    assert sum(len(v) for v in qrels.values()) == 9260
    assert {g for v in qrels.values() for g in v.values()} == {0, 1, 2, 3}


def test_trec_run_round_trip(tmp_path):
    run = {"q1": {"d1": 2.5, "d2": 1.0}, "q2": {"d2": 0.25}}
    write_trec_run(run, tmp_path / "r.trec")
    assert read_trec_run(tmp_path / "r.trec") == run
    assert (tmp_path / "r.trec").read_text().splitlines()[0] == "q1 Q0 d1 1 2.5 synrank"
    close = {"q": {"a": 0.1234567891, "b": 0.1234567892}}  # no ties introduced by rounding
    write_trec_run(close, tmp_path / "c.trec")
    assert read_trec_run(tmp_path / "c.trec") == close


@pytest.mark.parametrize(
    "reader,name,text,problem",
    [
        (read_queries, "q.jsonl", '{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n', ":2: bad JSON"),
        (read_queries, "q.jsonl", '{"_id": "1"}\n', ":1: missing query text field"),
        (read_queries, "q.jsonl", '{"text": "x"}\n', ":1: missing query id field"),
        (read_queries, "q.tsv", "1\ta\n1\tb\n", ":2: duplicate query id '1'"),
        (read_queries, "q.tsv", "1\ta\n2\tb\textra\n", ":2: expected 2 tab-separated columns"),
        (read_queries, "q.tsv", "", "no queries found (empty file)"),
        (read_queries, "q.jsonl", "[1, 2]\n", ":1: expected a JSON object"),
        (lambda p: list(iter_corpus(p)), "c.jsonl", '{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', ":2: duplicate document id 'a'"),
        (lambda p: list(iter_corpus(p)), "c.jsonl", '{"_id": "a", "title": "t"}\n', ":1: missing document text field"),
        (lambda p: list(iter_corpus(p)), "c.tsv", "a\tt\tx\nb\ty\n", ":2: expected 3 tab-separated columns, found 2"),
        (lambda p: list(iter_corpus(p)), "c.tsv", "", "no documents found"),
        (read_qrels, "q.trec", "1 0 d1 1\n1 0 d1 2\n", ":2: duplicate judgment"),
        (read_qrels, "q.trec", "1 0 d1 x\n", ":1: relevance 'x' is not a number"),
        (read_qrels, "q.tsv", "query-id\tcorpus-id\tscore\n1\td1\n", ":2: expected 3 columns"),
        (read_trec_run, "r.trec", "1 Q0 d1 1 0.5\n", ":1: expected 6 columns"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, reader, name, text, problem):
    path = write(tmp_path / name, text)
    with pytest.raises(InputError) as exc:
        reader(path)
    line = exc.value.one_line()
    assert line.startswith(str(path)) and problem in line and "\n" not in line


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_queries(tmp_path / "nope.tsv")


def test_write_jsonl_is_atomic(tmp_path):
    target = tmp_path / "out.jsonl"

    def records():
        yield {"a": 1}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(records(), target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(ValueError):
        with atomic_dir(tmp_path / "idx") as work:
            (work / "f").write_text("x")
            raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "idx") as work:
        (work / "f").write_text("x")
    assert (tmp_path / "idx" / "f").read_text() == "x"


def test_append_writer_resumes_and_repairs_partial_line(tmp_path):
    path = tmp_path / "out.jsonl"
    with AppendJsonlWriter(path, key=lambda r: r["id"]) as w:
        w.write({"id": "a"})
        w.write({"id": "b"})
    with open(path, "a") as fh:  # what kill -9 in the middle of a write leaves
        fh.write('{"id": "c", "te')
    w = AppendJsonlWriter(path, key=lambda r: r["id"])
    assert w.done_keys == {"a", "b"}
    w.write({"id": "c"})
    w.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "c"]
