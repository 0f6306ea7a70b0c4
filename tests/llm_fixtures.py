"""Fixtures shared by the generate/llm/score/pipeline tests (conftest.py registers them for every test): a tiny
random Llama (real transformers model, seconds to build), a fake ``vllm`` package (for checking our calls
against vLLM's API without a GPU), a scripted OpenAI-compatible server, and small input files."""

from __future__ import annotations

import json
import random
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers import head_file

CHAT_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)

# A docs template whose answer is taken as plain text: a random model's words then count as a passage,
# so the whole pipeline (records, ids, resume, shards) runs end to end on a tiny model.
TEXT_DOCS_TEMPLATE = textwrap.dedent(
    """\
    # description: test template, plain-text answers
    # task: docs
    # output: text
    ### system
    You write passages.
    ### user
    Query: {{query}}
    Grade {{level}} of {{max_level}}: {{level_definition}}
    """
)


def build_tiny_llama(out: Path, minilm_path: Path) -> Path:
    """A 2-layer random LlamaForCausalLM with MiniLM's WordPiece tokenizer and a chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    tok.chat_template = CHAT_TEMPLATE
    tok.eos_token = "[SEP]"
    cfg = LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tok.sep_token_id,
        bos_token_id=tok.cls_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = tok.sep_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    # Causal LMs take no token_type_ids; say so in the saved config so every loader (transformers serve
    # included) gets only ids and mask.
    cfg_path = out / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    tok_cfg["model_input_names"] = ["input_ids", "attention_mask"]
    cfg_path.write_text(json.dumps(tok_cfg, indent=2), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, minilm_path) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), minilm_path)


@pytest.fixture
def text_docs_template(tmp_path) -> Path:
    p = tmp_path / "text-docs.txt"
    p.write_text(TEXT_DOCS_TEMPLATE, encoding="utf-8")
    return p


@pytest.fixture
def queries_tsv(tmp_path, msmarco_dir) -> Path:
    """The first 6 real TREC DL 2019 queries."""
    return head_file(msmarco_dir / "dl19-queries.tsv", 6, tmp_path / "queries.tsv")




FAKE_VLLM = textwrap.dedent(
    '''\
    """A stand-in for the vllm package with the signatures of its offline API (LLM, SamplingParams,
    LLM.chat -> RequestOutput.outputs[0].text/token_ids/finish_reason). Every call is appended to the
    JSONL file named by FAKE_VLLM_LOG so tests (and spawned worker processes) can be checked."""
    import json, os, random

    _WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
              "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber cobalt jade ochre").split()

    _LLM_ARGS = {"model", "tokenizer", "tensor_parallel_size", "dtype", "seed", "trust_remote_code",
                 "gpu_memory_utilization", "max_model_len", "quantization", "enforce_eager", "max_num_seqs"}

    def _log(event, **data):
        with open(os.environ["FAKE_VLLM_LOG"], "a") as fh:
            fh.write(json.dumps({"event": event, "pid": os.getpid(), **data}) + "\\n")

    class SamplingParams:
        def __init__(self, n=1, temperature=1.0, top_p=1.0, max_tokens=16, seed=None, **kw):
            unknown = set(kw) - {"top_k", "stop", "stop_token_ids", "presence_penalty", "repetition_penalty",
                                 "structured_outputs", "guided_decoding"}
            if unknown:
                raise TypeError(f"unexpected SamplingParams arguments {unknown}")
            self.n, self.temperature, self.top_p, self.max_tokens, self.seed = n, temperature, top_p, max_tokens, seed
            constraint = kw.get("structured_outputs") or kw.get("guided_decoding")
            self.constraint = None if constraint is None else {type(constraint).__name__: constraint.json}

    class _Completion:
        def __init__(self, text, token_ids, finish_reason):
            self.text, self.token_ids, self.finish_reason = text, token_ids, finish_reason

    class RequestOutput:
        def __init__(self, prompt_token_ids, outputs):
            self.prompt_token_ids, self.outputs = prompt_token_ids, outputs

    class LLM:
        def __init__(self, model, **kwargs):
            unknown = set(kwargs) - _LLM_ARGS
            if unknown:
                raise TypeError(f"unexpected LLM arguments {unknown}")
            if kwargs.get("data_parallel_size", 1) != 1:
                raise ValueError("LLM(data_parallel_size>1) is not supported for single-process usage")
            self.model = model
            _log("init", model=model, kwargs=kwargs, cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))

        def chat(self, messages, sampling_params=None, use_tqdm=True, chat_template=None,
                 add_generation_prompt=True, continue_final_message=False, **kw):
            if not isinstance(messages[0], list):
                messages = [messages]
            params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(messages)
            assert len(params) == len(messages)
            if continue_final_message:
                assert not add_generation_prompt and all(m[-1]["role"] == "assistant" for m in messages)
            _log("chat", n=len(messages), seeds=[p.seed for p in params], temperature=params[0].temperature,
                 top_p=params[0].top_p, max_tokens=params[0].max_tokens,
                 add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message,
                 use_tqdm=use_tqdm, users=[m[-2 if continue_final_message else -1]["content"] for m in messages],
                 constraints=[p.constraint for p in params])
            outs = []
            for conv, p in zip(messages, params):
                user = [m for m in conv if m["role"] == "user"][-1]["content"]
                topic = next((ln for ln in user.splitlines() if ln.startswith("Query:")), user.splitlines()[0])
                words = random.Random(p.seed).sample(_WORDS, 10)  # distinct per seed: no accidental duplicates
                body = "passage about " + topic.replace('"', "'") + f" seed {p.seed}: " + " ".join(words) + '"}'
                text = body if continue_final_message else '{"passage": "' + body
                outs.append(RequestOutput(list(range(7)), [_Completion(text, list(range(len(text.split()))), "stop")]))
            return outs

        def generate(self, prompts, sampling_params=None, use_tqdm=True, **kw):
            raise AssertionError("synrank should use LLM.chat so the model's chat template is applied")
    '''
)


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    """Install the fake vllm package (sys.path for spawned workers, sys.modules for this process)."""
    import importlib
    import sys

    pkg = tmp_path / "fakepkgs" / "vllm"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_VLLM, encoding="utf-8")
    log = tmp_path / "vllm-calls.jsonl"
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    module = importlib.import_module("vllm")
    monkeypatch.setitem(sys.modules, "vllm", module)
    return log


# --- a scripted OpenAI-compatible server (answers what a test queues in `script`) ---------------------------
SERVER_WORDS = "red green blue cyan magenta yellow black white orange purple brown pink grey olive navy teal".split()


class _Scripted(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions from a script of (status, headers, body) and records requests."""

    script: list = []
    seen: list = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length))
        with self.lock:
            self.seen.append({"path": self.path, "auth": self.headers.get("authorization"), "body": body})
            status, headers, payload = self.script.pop(0) if self.script else (200, {}, None)
        if payload is None:
            user = body["messages"][-1]["content"]
            topic = next((ln for ln in user.splitlines() if ln.startswith("Query:")), user)
            words = random.Random(body.get("seed")).sample(SERVER_WORDS, 8)  # different answers per seed
            content = json.dumps({"passage": f"answer to {topic}: {' '.join(words)}"})
            payload = {
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 6},
            }
        data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def scripted_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    _Scripted.script, _Scripted.seen = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", _Scripted
    server.shutdown()
    server.server_close()
