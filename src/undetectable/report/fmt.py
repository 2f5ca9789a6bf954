"""The report's one escaping helper and one number formatter.

Every value the HTML report prints goes through :func:`cell` (text: escaped, numbers inside it
normalized to their precision and wrapped in a no-wrap span) or :func:`num` (a number: refuses
anything that is not one). Nothing else writes user data into the page, so a ``<script>`` in any
field of results.json or arena.json is printed as text.

Number style (one place):

* percentages: at most two decimals, trailing zeros dropped (``100.0000%`` → ``100%``, ``99.850%`` → ``99.85%``);
* scientific notation: ``0.0e+00`` → ``0``, ``3.7e-04`` → ``3.7e-4``;
* plain decimals: at most four significant digits (``11.313708`` → ``11.31``), trailing zeros kept
  (``0.70`` stays ``0.70``: the writer chose that precision);
* AUCs: two decimals, always (``0.7`` → ``0.70``), CIs likewise.

Examples
--------
>>> cell("ASR 100.0000% of 2000; <b>")
'ASR <span class="n">100%</span> of <span class="n">2000</span>; &lt;b&gt;'
>>> num(0.7, "auc"), num(1e-7), num(0.0), num(12345.678), num(3, "pct")
('0.70', '1e-7', '0', '12,346', '300%')
"""
from __future__ import annotations

import math
import re
from html import escape
from typing import Any

from ..errors import UsageError

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][+-]?\d+)?"
# a number not glued to a word (Ed25519, L2, d=8's 8 is fine: '=' is not a word character), optional %,
# or a fraction a/b kept whole (0.988/0.992 never breaks at the slash)
TOKEN = re.compile(rf"(?<![\w.])[-−]?{_NUM}%?(?:/{_NUM}%?)*(?![\w])")


class NotANumber(UsageError):
    """A field that must be a number holds something else (the report refuses to print it as one)."""


def is_number(v: Any) -> bool:
    """A real int or float (not a bool, not a string that looks like a number)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _trim(s: str) -> str:
    return s.rstrip("0").rstrip(".") if "." in s else s


def _sci(v: float, sig: int = 2) -> str:
    if v == 0:
        return "0"
    mant, _, exp = f"{v:.{sig - 1}e}".partition("e")
    return f"{_trim(mant)}e{int(exp)}"


def num(v: Any, kind: str = "g", digits: int = 4) -> str:
    """A number as the report prints it; raises :class:`NotANumber` for anything that is not a finite-or-NaN number.

    ``kind``: ``"g"`` (ints as they are, with thousands separators from 10,000; floats to ``digits``
    significant digits, scientific below 1e-4), ``"auc"`` (two decimals), ``"pct"`` (a fraction as a
    percentage), ``"s"`` (seconds, one decimal). None prints as "–"; NaN as "n/a".
    """
    if v is None:
        return "–"
    if not is_number(v):
        raise NotANumber(f"{str(v)[:40]!r} is not a number")
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if kind == "auc":
        return f"{v:.2f}"
    if kind == "pct":
        return _trim(f"{100 * v:.2f}") + "%"
    if kind == "s":
        return f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if v == 0:
        return "0"
    if abs(v) < 1e-4:
        return _sci(v)
    if abs(v) >= 10_000:
        return f"{round(v):,}"
    return _trim(f"{v:.{max(0, digits - 1 - math.floor(math.log10(abs(v))))}f}")


def ci(pair: Any, kind: str = "auc") -> str:
    """``[lo, hi]`` of a two-number list (raises NotANumber otherwise); "—" for None."""
    if pair is None:
        return "—"
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise NotANumber(f"{str(pair)[:40]!r} is not a [low, high] pair")
    return f"[{num(pair[0], kind)}, {num(pair[1], kind)}]"


def tidy_number(tok: str) -> str:
    """One number token of a text cell, normalized (see the module docstring)."""
    if "/" in tok:
        return "/".join(tidy_number(t) for t in tok.split("/"))
    pct = tok.endswith("%")
    core = tok[:-1] if pct else tok
    sign = ""
    if core[:1] in "-−":
        sign, core = "−" if core[0] == "−" else "-", core[1:]
    if "," in core:
        return tok
    try:
        v = float(core)
    except ValueError:
        return tok
    if "e" in core.lower():
        return sign + _sci(v) + ("%" if pct else "")
    if pct:
        return sign + _trim(f"{v:.2f}") + "%"
    if "." in core:
        frac = core.split(".")[1]
        sig = len(core.replace(".", "").lstrip("0"))
        if len(frac) > 4 and sig > 4:
            return sign + num(v, digits=4)
    return sign + core


def cell(value: Any) -> str:
    """Escaped HTML of any value; numbers inside text normalized and wrapped in ``<span class="n">`` (never broken)."""
    if value is None:
        return ""
    if is_number(value):
        return f'<span class="n">{escape(num(value))}</span>'
    text = value if isinstance(value, str) else str(value)
    out, last = [], 0
    for m in TOKEN.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(f'<span class="n">{escape(tidy_number(m.group()))}</span>')
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def tidy_text(value: Any) -> str:
    """Plain text of any value with its numbers normalized like :func:`cell` (no HTML; for Markdown and terminals).

    >>> tidy_text("ASR 100.0000% vs 0.0e+00")
    'ASR 100% vs 0'
    """
    if value is None:
        return ""
    if is_number(value):
        return num(value)
    return TOKEN.sub(lambda m: tidy_number(m.group()), str(value))


def plain(value: Any) -> str:
    """Escaped text of any value (attributes, anchors): no number formatting, no markup."""
    return escape("" if value is None else str(value), quote=True)
