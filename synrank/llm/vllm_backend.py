"""vLLM backend: one in-process ``vllm.LLM`` engine, or several for data parallelism.

- Tensor parallelism (``tensor_parallel_size``) splits one model over GPUs inside one engine.
- Data parallelism (``data_parallel_size``): vLLM's ``LLM(data_parallel_size=N)`` is not supported for
  single-process offline use (it refuses or hangs), so, as vLLM's own offline data-parallel example does,
  we start N worker processes, each owning ``tensor_parallel_size`` GPUs through ``CUDA_VISIBLE_DEVICES``
  and its own engine, and split every batch of requests between them. Output order is preserved.
- Each request gets its own ``SamplingParams(seed=...)``, so sampled text does not depend on batching.
- A response prefix becomes a final assistant message continued with ``continue_final_message=True``.
- A request's ``json_schema`` becomes structured outputs (``StructuredOutputsParams(json=...)`` in vLLM
  >= 0.11, ``GuidedDecodingParams(json=...)`` before), and is sent without the prefix: the schema
  constrains the whole answer.
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import os
from collections.abc import Sequence
from typing import Any

from synrank.errors import ConfigError
from synrank.llm.base import BackendBase, ChatRequest, Completion, SamplingConfig, schema_answer_after_prefix

_DTYPES = {"auto": "auto", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise ConfigError("the vllm backend needs vLLM (pip install 'synrank[vllm]' on a machine with a GPU)") from None
    return vllm


def _structured_outputs(vllm: Any) -> tuple[str, Any] | None:
    """The ``SamplingParams`` keyword and parameter class for structured outputs in the installed vLLM, if any."""
    import importlib

    try:
        sp = importlib.import_module(f"{vllm.__name__}.sampling_params")
    except ImportError:
        sp = vllm
    if hasattr(sp, "StructuredOutputsParams"):  # vLLM >= 0.11
        return "structured_outputs", sp.StructuredOutputsParams
    if hasattr(sp, "GuidedDecodingParams"):  # vLLM 0.6 - 0.10
        return "guided_decoding", sp.GuidedDecodingParams
    return None


def structured_kwargs(vllm: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """``SamplingParams`` arguments that constrain the answer to ``schema`` in the installed vLLM."""
    found = _structured_outputs(vllm) if schema is not None else None
    if found is None:
        return {}
    keyword, cls = found
    return {keyword: cls(json=schema)}


def _sampling_params(vllm: Any, sampling: dict[str, Any], seed: int, schema: dict[str, Any] | None = None) -> Any:
    greedy = sampling["temperature"] <= 0
    return vllm.SamplingParams(
        n=1,
        temperature=0.0 if greedy else sampling["temperature"],
        top_p=1.0 if greedy else sampling["top_p"],
        max_tokens=sampling["max_new_tokens"],
        seed=seed,
        **structured_kwargs(vllm, schema),
    )


def _run_chat(llm: Any, vllm: Any, items: list[dict[str, Any]], sampling: dict[str, Any]) -> list[dict[str, Any]]:
    """Generate for plain items (picklable dicts): requests with and without a prefix go in separate calls,
    because ``add_generation_prompt``/``continue_final_message`` apply to a whole ``LLM.chat`` call."""
    results: list[dict[str, Any] | None] = [None] * len(items)
    if _structured_outputs(vllm) is None:
        # A vLLM without structured outputs cannot constrain decoding: answer through the prefix, as transformers does.
        items = [{**it, "json_schema": None} for it in items]
    for with_prefix in (False, True):
        # A request with a schema is answered whole (no prefix to continue): it goes with the plain ones.
        idx = [i for i, it in enumerate(items) if (bool(it["prefix"]) and it.get("json_schema") is None) == with_prefix]
        if not idx:
            continue
        conversations = []
        for i in idx:
            msgs = list(items[i]["messages"])
            if with_prefix:
                msgs.append({"role": "assistant", "content": items[i]["prefix"]})
            conversations.append(msgs)
        params = [_sampling_params(vllm, sampling, items[i]["seed"], items[i].get("json_schema")) for i in idx]
        outputs = llm.chat(
            conversations,
            sampling_params=params,
            use_tqdm=False,
            add_generation_prompt=not with_prefix,
            continue_final_message=with_prefix,
        )
        for i, out in zip(idx, outputs):
            best = out.outputs[0]
            text = best.text
            prefix = items[i]["prefix"]
            if items[i].get("json_schema") is not None:
                text = schema_answer_after_prefix(text, prefix)  # the caller prepends the prefix
            results[i] = {
                "text": text,
                "completion_tokens": len(best.token_ids),
                "prompt_tokens": len(out.prompt_token_ids or []),
                "finish_reason": "length" if best.finish_reason == "length" else "stop",
            }
    return [r for r in results if r is not None]


def _worker_main(devices: str, llm_kwargs: dict[str, Any], inbox: Any, outbox: Any) -> None:
    """A data-parallel replica: its own GPUs, its own engine; answers jobs until it receives None."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    try:
        vllm = _import_vllm()
        llm = vllm.LLM(**llm_kwargs)
        outbox.put(("ready", None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
        outbox.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        job = inbox.get()
        if job is None:
            return
        items, sampling = job
        try:
            outbox.put(("ok", _run_chat(llm, vllm, items, sampling)))
        except BaseException as exc:  # noqa: BLE001
            outbox.put(("error", f"{type(exc).__name__}: {exc}"))


class VLLMBackend(BackendBase):
    """vLLM engine(s). ``engine_args`` are passed to ``vllm.LLM`` as given (e.g. ``max_model_len``)."""

    name = "vllm"
    supports_prefix = True

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        dtype: str = "auto",
        seed: int = 42,
        trust_remote_code: bool = False,
        gpu_memory_utilization: float = 0.9,
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        if tensor_parallel_size < 1 or data_parallel_size < 1:
            raise ConfigError("--tensor-parallel-size and --data-parallel-size must be at least 1")
        if dtype not in _DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r} (use one of {', '.join(_DTYPES)})")
        self.model_name = model
        self.tp = tensor_parallel_size
        self.dp = data_parallel_size
        self.llm_kwargs: dict[str, Any] = {
            "model": model,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": _DTYPES[dtype],
            "seed": seed,
            "trust_remote_code": trust_remote_code,
            "gpu_memory_utilization": gpu_memory_utilization,
            **(engine_args or {}),
        }
        self._vllm = _import_vllm()
        self._llm: Any = None
        self._workers: list[tuple[Any, Any, Any]] = []
        if self.dp == 1:
            try:
                self._llm = self._vllm.LLM(**self.llm_kwargs)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"vLLM cannot load {model!r}: {' '.join(str(exc).split())[:300]}") from None
        else:
            self._start_workers()

    def _device_groups(self) -> list[str]:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        devices = [d.strip() for d in visible.split(",") if d.strip()] if visible else None
        if devices is None:
            import torch

            devices = [str(i) for i in range(torch.cuda.device_count())]
        need = self.tp * self.dp
        if len(devices) < need:
            raise ConfigError(
                f"data parallel {self.dp} x tensor parallel {self.tp} needs {need} GPUs, {len(devices)} visible"
            )
        return [",".join(devices[r * self.tp : (r + 1) * self.tp]) for r in range(self.dp)]

    def _start_workers(self) -> None:
        ctx = mp.get_context("spawn")  # CUDA cannot be re-initialised in forked children
        for devices in self._device_groups():
            inbox, outbox = ctx.Queue(), ctx.Queue()
            proc = ctx.Process(target=_worker_main, args=(devices, self.llm_kwargs, inbox, outbox), daemon=True)
            proc.start()
            self._workers.append((proc, inbox, outbox))
        for _proc, _inbox, outbox in self._workers:
            status, detail = outbox.get()
            if status != "ready":
                self.close()
                raise ConfigError(f"a vLLM data-parallel worker failed to start: {' '.join(str(detail).split())[:300]}")

    def info(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "tensor_parallel_size": self.tp,
            "data_parallel_size": self.dp,
            "engine_args": {k: v for k, v in self.llm_kwargs.items() if k != "model"},
        }

    def generate(self, requests: Sequence[ChatRequest], sampling: SamplingConfig) -> list[Completion]:
        if not requests:
            return []
        items = [
            {
                "messages": [dict(m) for m in r.messages],
                "prefix": r.prefix,
                "seed": r.seed,
                "json_schema": dict(r.json_schema) if r.json_schema is not None else None,
            }
            for r in requests
        ]
        sdict = sampling.as_dict()
        if self.dp == 1:
            raw = _run_chat(self._llm, self._vllm, items, sdict)
        else:
            # Contiguous, near-equal parts, one per replica; gathered back in order.
            n, k = len(items), len(self._workers)
            bounds = [r * (n // k) + min(r, n % k) for r in range(k + 1)]
            busy = []
            for r, (_proc, inbox, outbox) in enumerate(self._workers):
                part = items[bounds[r] : bounds[r + 1]]
                if part:
                    inbox.put((part, sdict))
                    busy.append(outbox)
            raw = []
            for outbox in busy:
                status, payload = outbox.get()
                if status != "ok":
                    raise ConfigError(f"a vLLM data-parallel worker failed: {' '.join(str(payload).split())[:300]}")
                raw.extend(payload)
        return [Completion(**r) for r in raw]

    def close(self) -> None:
        for proc, inbox, _outbox in self._workers:
            if proc.is_alive():
                inbox.put(None)
        for proc, _inbox, _outbox in self._workers:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
        self._workers = []
        self._llm = None
