"""Safe YAML loading for advisory files: rapidyaml for plain documents, libyaml otherwise.

libyaml's C loader (``yaml.CSafeLoader``) is the reference: safe (plain Python types only) and
exact YAML 1.1. On the advisory-db its Python-side construction dominates a full ingest, so
documents whose meaning cannot differ between the two are parsed with rapidyaml instead: the
C++ parser builds a tree and emits JSON, which ``json.loads`` turns into Python objects. That
path constructs nothing from tags and resolves no aliases, so it is inert by construction.

A document goes to libyaml whenever rapidyaml could read it differently: it uses anchors,
aliases, tags, merge keys, tabs, escapes, directives or document markers; it has a scalar that
YAML 1.1 types specially and JSON does not (``~``, ``yes``/``no``/``on``/``off``,
hex/octal/binary/sexagesimal numbers, leading zeros, ``.inf``/``.nan``, numbers with underscores
or exponents, numeric keys, reserved indicators), or rapidyaml rejects it (so the error message
is libyaml's). Unquoted timestamps are the one accepted difference: rapidyaml gives the text,
libyaml a datetime, and the caller reads both. A parity test checks both paths agree on the
whole real advisory-db.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

try:  # optional accelerator: everything works (slower) without it
    import ryml
except ImportError:  # pragma: no cover - exercised when rapidyaml is not installed
    ryml = None

SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A tag (``!x``, ``!!x``) at the start of a node; rapidyaml would silently drop it.
_TAG = re.compile(rb"(?:^|[\s\[{,])!{1,2}[\w/:.<>-]", re.MULTILINE)
# Strings that YAML 1.1 may have typed differently when written plain: null, booleans, hex,
# octal, binary, sexagesimal, infinities, NaN, numbers with underscores or exponents; and
# ``*name``, an alias rapidyaml leaves unresolved.
_YAML11_SPECIAL = re.compile(
    r"~|[yY](?:es)?|[nN]o?|YES|NO|[oO]n|ON|[oO]ff|OFF|[tT]rue|TRUE|[fF]alse|FALSE|[nN]ull|NULL"
    r"|[-+]?0[xob][0-9a-fA-F_]+|[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[-+]?[0-9][0-9_.]*_[0-9_.]*|[-+]?[0-9.]+[eE][-+]?[0-9]+|\*.*"
)


_NUMERIC_START = frozenset("+-.0123456789")
_WORD_START = frozenset("~yYnNoOtTfF*")
_INDICATOR_START = frozenset("@`=<")  # reserved indicators, the value and merge keys


# Byte sequences after which rapidyaml and libyaml may part ways: tabs (separators), merge keys,
# escape sequences (lone surrogates), directives and document markers (streams).
_REFERENCE_ONLY = (b"\t", b"<<", b"\\u", b"\\U", b"\n%", b"\n---", b"\n...")
_REFERENCE_START = (b"%", b"---", b"...")


def fast_path_applies(data: bytes) -> bool:
    """Whether rapidyaml may parse ``data``: it is installed and nothing tricky is in sight."""
    if ryml is None or any(marker in data for marker in _REFERENCE_ONLY):
        return False
    if data.lstrip().startswith(_REFERENCE_START):
        return False
    return b"!" not in data or _TAG.search(data) is None


def reads_alike(value: Any) -> bool:
    """Whether a rapidyaml result has nothing YAML 1.1 could have read differently.

    Floats and the special strings above send the document to libyaml; so do false alarms
    (a quoted ``'yes'``), which only cost speed.
    """
    stack = [value]
    match = _YAML11_SPECIAL.fullmatch
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            first = item[:1]
            if first in _NUMERIC_START:
                if item.replace(".", "").isdigit():
                    if first == "0" and item[1:2].isdigit():  # 017, 00: YAML 1.1 integers
                        return False
                elif match(item):
                    return False
            elif first in _WORD_START:
                if (len(item) <= 5 or first == "*") and match(item):
                    return False
            elif first in _INDICATOR_START:
                return False
        elif isinstance(item, dict):
            for key in item:
                # JSON keys are always text: a key that YAML would type (1, 1.5) goes to libyaml
                if isinstance(key, str) and key[:1] in _NUMERIC_START and _looks_numeric(key):
                    return False
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            return False
    return True


def _load_fast(data: bytes) -> Any:
    tree = ryml.parse_in_arena(data)
    if tree.is_stream(tree.root_id()):
        return _REFERENCE
    emitted = ryml.emit_json_malloc(tree, tree.root_id())
    return None if emitted is None else json.loads(emitted)


_REFERENCE = object()


def _looks_numeric(text: str) -> bool:
    stripped = text.lstrip("+-")
    return stripped.replace(".", "", 1).replace("_", "").isdigit() or match_number(stripped)


def match_number(text: str) -> bool:
    """Whether ``text`` is a number YAML 1.1 would type (hex, octal, exponent, sexagesimal)."""
    return _YAML11_SPECIAL.fullmatch(text) is not None and text[:1].isdigit()


def load_yaml(data: bytes) -> Any:
    """Parse one YAML document safely; raise ``yaml.YAMLError`` (libyaml's) when it is malformed."""
    if data.strip() and fast_path_applies(data):
        try:
            value = _load_fast(data)
        except Exception:  # any rapidyaml failure: let libyaml judge
            value = _REFERENCE
        if value is not _REFERENCE and reads_alike(value):
            return value
    return yaml.load(data.decode("utf-8"), Loader=SafeLoader)  # a safe loader
