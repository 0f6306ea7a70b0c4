"""Hiding secrets in text shown to people or written to manifests: URL credentials and query strings, API keys.

Below every other part of synrank (it imports nothing of it), so the manifests (:mod:`synrank.formats.manifest`)
and the stage messages printed on stderr (:mod:`synrank.runtime.progress`) hide the same things the same way.
"""

from __future__ import annotations

import re
import urllib.parse

_SECRET_VALUE = re.compile(r"^(sk-|hf_|Bearer\s)", re.IGNORECASE)
REDACTED = "***"
# A URL inside free text: stops at whitespace, quotes and brackets (messages quote values as 'x' or (x)).
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}]+")


def redact_url(url: str) -> str:
    """``url`` with its user:password and its query string and fragment replaced by ``***``.

    Servers take API keys in either place (``https://key@host``, ``?api_key=``); the host and path stay,
    so a manifest still says which server answered. A value typed without its scheme (``bob:pw@host/v1``)
    is read as ``//bob:pw@host/v1``: otherwise ``bob`` would pass for the scheme and the password for a path.
    """
    if "://" not in url and not url.startswith("//"):
        fixed = redact_url("//" + url)
        return fixed[2:] if fixed.startswith("//") else fixed
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = REDACTED if parts.query else ""
    fragment = REDACTED if parts.fragment else ""
    out = url if netloc == parts.netloc and not query and not fragment else urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    head, at, host = out.rpartition("@")
    if at and not head.endswith(REDACTED):
        # A malformed URL (``http:/bob:pw@host``) hides its credentials where urlsplit sees a path.
        scheme = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:/*", head)
        out = (scheme.group(0) if scheme else "") + REDACTED + "@" + host
    return out


# The same secrets in a URL typed without its scheme or mistyped (``bob:pw@host/v1?key=...``,
# ``//key@host:8000``, ``http:/bob:pw@host``): a ``user:password@`` at the start of a word, a ``user@``
# before something shaped like a host (so an id such as ``doc@2`` stays readable), and a ``?name=value``
# query string in any word.
_USERINFO = re.compile(
    r"""(^|[\s'"(\[<{=,]|//|[a-zA-Z][\w+.-]*:/+)
        (?: [^\s'"()<>\[\]{}/@=,:]+ : [^\s'"()<>\[\]{}/@=,]* @ (?=[^\s'"@/])
          | [^\s'"()<>\[\]{}/@=,:]+ @ (?=[\w-]+(?:\.[\w-]+)+ | [\w.-]+(?::\d|/)) )""",
    re.VERBOSE,
)
_QUERY = re.compile(r"(?<=[^\s'\"?])\?[^\s'\"<>()\[\]{}]*=[^\s'\"<>()\[\]{}]*")


def redact_text(text: str) -> str:
    """Every URL in ``text`` passed through :func:`redact_url`, and secret-looking tokens hidden.

    URLs without a scheme lose their credentials and query string too: a message may quote what the user
    typed before it was found not to be a URL (``--base-url bob:pw@host``)."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _QUERY.sub("?" + REDACTED, text)
    return " ".join(REDACTED if _SECRET_VALUE.match(w) else w for w in text.split(" ")) if _SECRET_WORD.search(text) else text


_SECRET_WORD = re.compile(r"(^|\s)(sk-|hf_)")
