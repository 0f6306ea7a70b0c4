"""How much of a passage goes into a query prompt.

Two caps, applied in order:

- characters: the CADeT reference keeps the first 2,048 characters of each passage
  (``query_generation/query_gen_scripts/*_gen_vllm.py``: ``text[:2048]``); synrank does the same;
- tokens (``max_passage_tokens``, issue 11.5): on the CPU the prompt's prefill is the cost that
  dominates a query (~400 prompt tokens for ~20 generated), so long passages are cut to a token budget.
  Tokens are counted with the generator's own tokenizer when the backend exposes one (transformers,
  and any backend with a Hugging Face ``tokenizer`` attribute); otherwise with a whitespace
  approximation of ``0.75`` words per token (English prose; scientific text runs nearer 0.66, so the
  approximation errs towards keeping a little more text).

Cuts fall on a word boundary, so the model never sees half a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PASSAGE_CHARS = 2048
WORDS_PER_TOKEN = 0.75


def cut_chars(text: str, max_chars: int = MAX_PASSAGE_CHARS) -> str:
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    # Drop the partial last word unless the cut happened to fall on a space.
    return head if text[max_chars].isspace() else (head.rsplit(" ", 1)[0] if " " in head else head)


@dataclass(frozen=True)
class PassageCap:
    """Cut a passage to ``max_chars`` characters, then to ``max_tokens`` tokens (0 = no token cap)."""

    max_tokens: int = 0
    tokenizer: Any = None  # a Hugging Face tokenizer, or None for the whitespace approximation
    max_chars: int = MAX_PASSAGE_CHARS

    @property
    def counter(self) -> str:
        """How tokens are counted, for the manifest."""
        if not self.max_tokens:
            return "none"
        if self.tokenizer is None:
            return f"whitespace ({WORDS_PER_TOKEN} words per token)"
        return f"tokenizer ({type(self.tokenizer).__name__})"

    def __call__(self, text: str) -> str:
        text = cut_chars(text, self.max_chars)
        if not self.max_tokens:
            return text
        if self.tokenizer is None:
            words = text.split()
            keep = max(1, int(self.max_tokens * WORDS_PER_TOKEN))
            return text if len(words) <= keep else " ".join(words[:keep])
        return self._cut_tokens(text)

    def _cut_tokens(self, text: str) -> str:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= self.max_tokens:
            return text
        end = offsets[self.max_tokens - 1][1]
        head = text[:end]
        if end < len(text) and not text[end].isspace() and " " in head:
            head = head.rsplit(" ", 1)[0]  # the budget ended inside a word: drop that word
        return head.rstrip()
