"""What the report reads, read as untrusted input: bounded, regular files only, validated into typed records.

A report folder may come from anyone (a colleague's demo run, a downloaded arena). Everything here runs
before a value reaches the page:

* every JSON file (results.json, arena.json, scan.json) is opened without following a final link, must be
  a regular file (no FIFO, no /dev/zero) within ``UNDETECTABLE_MAX_REPORT_JSON_BYTES``, and is parsed with
  ``safety.strict_json`` (no duplicate keys, no NaN, bounded depth);
* arena.json files are found by a walk that never follows a link, a few folders deep;
* a figure is a plain file name (no ``/``, no ``..``, not absolute) of a regular file inside its JSON's
  folder, a PNG or JPEG by its magic bytes, within ``UNDETECTABLE_MAX_FIGURE_BYTES``: the report, written
  0644 to be shared, never inlines a file from outside its folder;
* fields that are numbers must be numbers (a string where an AUC belongs is refused, not printed).

Every refusal is one :class:`~undetectable.errors.UsageError` line naming the file and the field.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError, UsageError
from ..safety import limit, open_nofollow, strict_json

FIGURE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
MAX_WALK_DEPTH = 4
MAX_ARENAS = 64
MAX_TEXT = 20_000


class ReportInputError(UsageError):
    """A file the report reads is unreadable, too big, not a regular file, or has a field of the wrong type."""


# --- bounded reads ------------------------------------------------------------------------------

def read_bounded(path: Path, limit_name: str, what: str) -> bytes:
    """The bytes of a regular file (no final symlink, no FIFO or device) of at most ``limit(limit_name)`` bytes."""
    try:
        fd = open_nofollow(path, limit_name, what)
    except BundleError as exc:  # over the size limit
        raise ReportInputError(str(exc)) from None
    except ValueError as exc:
        raise ReportInputError(f"{exc}; the report reads regular files only") from None
    cap = limit(limit_name)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:  # grew after the size check
        raise ReportInputError(f"{what} is over the limit of {cap:,} bytes (UNDETECTABLE_MAX_{limit_name})")
    return data


def read_json(path: Path, what: str, hint: str) -> Any:
    """A bounded, strictly parsed JSON file; a one-line ReportInputError naming it and ``hint`` (the fix) otherwise."""
    raw = read_bounded(path, "REPORT_JSON_BYTES", what)
    try:
        return strict_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{what} is corrupt ({str(exc).splitlines()[0][:120]}); {hint}") from None


# --- field checks ---------------------------------------------------------------------------------

class _Fields:
    """Typed reads of one JSON object's fields; errors name the file and the field path."""

    def __init__(self, what: str, hint: str):
        self.what, self.hint = what, hint

    def fail(self, where: str, msg: str) -> ReportInputError:
        return ReportInputError(f"{self.what}: {where} {msg}; {self.hint}")

    def text(self, v: Any, where: str, default: str = "") -> str:
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise self.fail(where, f"is a {type(v).__name__}, not text")
        s = str(v)
        if len(s) > MAX_TEXT:
            raise self.fail(where, f"is {len(s):,} characters long (at most {MAX_TEXT:,})")
        return s

    def number(self, v: Any, where: str) -> float | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.fail(where, f"is {str(v)[:40]!r}, not a number")
        return v

    def integer(self, v: Any, where: str) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(where, f"is {str(v)[:40]!r}, not an integer")
        return v

    def flag(self, v: Any, where: str) -> bool | None:
        if v is None or isinstance(v, bool):
            return v
        raise self.fail(where, f"is {str(v)[:40]!r}, not true/false")

    def pair(self, v: Any, where: str) -> tuple[float, float] | None:
        if v is None:
            return None
        if not isinstance(v, list) or len(v) != 2:
            raise self.fail(where, "is not a [low, high] pair of numbers")
        lo, hi = self.number(v[0], f"{where}[0]"), self.number(v[1], f"{where}[1]")
        if lo is None or hi is None:
            return None
        return (lo, hi)

    def obj(self, v: Any, where: str) -> dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise self.fail(where, f"is a {type(v).__name__}, not an object")
        return v

    def items(self, v: Any, where: str, cap: int = 10_000) -> list:
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(where, f"is a {type(v).__name__}, not a list")
        if len(v) > cap:
            raise self.fail(where, f"has {len(v):,} entries (at most {cap:,})")
        return v

    def figure(self, v: Any, where: str) -> str:
        name = self.text(v, where)
        if not FIGURE_NAME.fullmatch(name) or name in (".", ".."):
            raise self.fail(where, f"{name[:80]!r} is not a plain file name in the report's folder (no '/', no '..', "
                                   "no absolute path)")
        return name

    def strings(self, v: Any, where: str) -> dict[str, str]:
        return {self.text(k, f"{where} key"): self.text(x, f"{where}[{k!r}]") for k, x in self.obj(v, where).items()}


# --- records ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One measured row of a section: the metric, its value, an optional 95% CI and its control."""

    metric: str
    value: str
    control: str = ""
    ci: tuple[float, float] | None = None
    ci_note: str = ""


@dataclass(frozen=True)
class Defense:
    defense: str
    attack: str
    before: str
    after: str
    cost: str = ""


@dataclass
class Section:
    """One demo section (an ``ExperimentResult`` as results.json holds it)."""

    title: str
    claim: str
    rows: list[Row]
    figures: list[str]
    captions: dict[str, str] = field(default_factory=dict)
    caveat: str = ""
    headline: dict[str, str] | None = None
    defenses: list[Defense] = field(default_factory=list)
    seconds: float | None = None
    name: str = ""
    seed: int | None = None
    params: dict = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


@dataclass
class Results:
    """results.json: the demo's sections (empty for a folder holding arena.json files only)."""

    sections: list[Section]
    seed: int | None = None
    quick: bool | None = None
    arena_only: bool = False


@dataclass(frozen=True)
class Detector:
    """One detector's line of an arena: AUC with its 95% CI, TPR at 5% FPR, and the corrected test where recorded."""

    name: str
    needs_key: bool
    auc: float | None
    auc_ci: tuple[float, float] | None
    tpr_at_5fpr: float | None = None
    cross_entropy: float | None = None
    errors: tuple[str, ...] = ()
    p_holm: float | None = None
    verdict: str = ""
    auc_ci_simultaneous: tuple[float, float] | None = None  # over the arena's key-free detectors (Bonferroni), when recorded

    @property
    def shown_ci(self) -> tuple[float, float] | None:
        """The CI a verdict should sit beside: the simultaneous one for a key-free detector where recorded."""
        return self.auc_ci_simultaneous if (self.auc_ci_simultaneous is not None and not self.needs_key) else self.auc_ci


@dataclass
class Arena:
    """arena.json: one population experiment."""

    rel: str  # its path relative to the report's folder
    folder: Path
    scheme: str
    data: str
    n_models: int | None
    detectors: list[Detector]
    seed: int | None = None
    figures: list[str] = field(default_factory=list)
    note: str = ""
    params: dict = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    method: str = ""  # the multiple-testing correction, as the arena states it
    verdict: str = ""  # the arena's own verdict line (Holm-corrected, audit.power.arena_verdicts), when recorded
    separating_names: list[str] | None = None  # the key-free detectors the arena's correction rejected, when recorded

    @property
    def title(self) -> str:
        n = self.n_models
        return f"{self.scheme} on {self.data}, {n} honest + {n} backdoored models"

    def keyfree(self) -> list[Detector]:
        return [d for d in self.detectors if not d.needs_key and d.auc is not None]

    def separating(self) -> list[Detector]:
        """Key-free detectors that separate: the arena's own corrected verdict, else Holm-adjusted p ≤ 0.05 where
        recorded, else (an old record) the uncorrected 95% CI excluding 0.5."""
        if self.separating_names is not None:
            return [d for d in self.keyfree() if d.name in self.separating_names]
        out = []
        for d in self.keyfree():
            if d.p_holm is not None:
                if d.p_holm <= 0.05:
                    out.append(d)
            elif d.auc_ci is not None and not d.auc_ci[0] <= 0.5 <= d.auc_ci[1]:
                out.append(d)
        return out

    @property
    def corrected(self) -> bool:
        return self.separating_names is not None or any(d.p_holm is not None for d in self.keyfree())


# --- loading ------------------------------------------------------------------------------------------

def _section(f: _Fields, s: Any, i: int) -> Section:
    w = f"sections[{i}]"
    s = f.obj(s, w)
    if not isinstance(s.get("title"), str):
        raise f.fail(w, "lacks a title")
    rows = []
    for j, r in enumerate(f.items(s.get("rows"), f"{w}.rows")):
        r = f.obj(r, f"{w}.rows[{j}]")
        rows.append(Row(f.text(r.get("metric"), f"{w}.rows[{j}].metric"), f.text(r.get("value"), f"{w}.rows[{j}].value"),
                        f.text(r.get("control"), f"{w}.rows[{j}].control"), f.pair(r.get("ci"), f"{w}.rows[{j}].ci"),
                        f.text(r.get("ci_note"), f"{w}.rows[{j}].ci_note")))
    defenses = []
    for j, d in enumerate(f.items(s.get("defenses"), f"{w}.defenses")):
        d = f.obj(d, f"{w}.defenses[{j}]")
        defenses.append(Defense(*(f.text(d.get(k), f"{w}.defenses[{j}].{k}") for k in ("defense", "attack", "before", "after", "cost"))))
    res = f.obj(s.get("results"), f"{w}.results")
    head = s.get("headline")
    return Section(
        title=f.text(s["title"], f"{w}.title"), claim=f.text(s.get("claim"), f"{w}.claim"), rows=rows,
        figures=[f.figure(x, f"{w}.figures[{j}]") for j, x in enumerate(f.items(s.get("figures"), f"{w}.figures", 100))],
        captions=f.strings(s.get("captions"), f"{w}.captions"), caveat=f.text(s.get("caveat"), f"{w}.caveat"),
        headline=None if head is None else f.strings(head, f"{w}.headline"), defenses=defenses,
        seconds=f.number(s.get("seconds"), f"{w}.seconds"), name=f.text(res.get("name"), f"{w}.results.name"),
        seed=f.integer(res.get("seed"), f"{w}.results.seed"), params=f.obj(res.get("params"), f"{w}.results.params"),
        versions=f.strings(res.get("versions"), f"{w}.results.versions"))


def load_results(directory: str | Path) -> Results:
    """Read and check DIR/results.json; a folder holding arena.json files only gives an empty section list.

    One-line errors (ReportInputError) for a missing folder, a folder with neither file, a corrupt,
    oversized or non-regular results.json, or a field of the wrong type.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory; pass the folder the demo (or an arena) wrote its results into")
    path = directory / "results.json"
    if not os.path.lexists(path):
        if arena_paths(directory):
            return Results([], arena_only=True)
        raise UsageError(f"{path} does not exist and no arena.json is under {directory}; run the demo or an arena "
                         "with this folder as its output first")
    hint = f"re-run the demo into {directory}, replacing it"
    data = read_json(path, str(path), hint)
    f = _Fields(str(path), hint)
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise ReportInputError(f"{path} has no 'sections' list; it was not written by the demo (re-run it)")
    return Results([_section(f, s, i) for i, s in enumerate(f.items(data["sections"], "sections", 100))],
                   seed=f.integer(data.get("seed"), "seed"), quick=f.flag(data.get("quick"), "quick"))


def arena_paths(directory: Path) -> list[Path]:
    """Every DIR/**/arena.json, a few folders deep, found without following links (sorted)."""
    out: list[Path] = []
    stack = [(Path(directory), 0)]
    while stack:
        d, depth = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False) and depth < MAX_WALK_DEPTH:
                stack.append((Path(e.path), depth + 1))
            elif e.name == "arena.json":
                out.append(Path(e.path))
        if len(out) > MAX_ARENAS:
            raise ReportInputError(f"{directory} holds more than {MAX_ARENAS} arena.json files; report a smaller folder")
    return sorted(out)


def load_arena(path: Path, directory: Path) -> Arena:
    """One arena.json (bounded, regular, typed)."""
    rel = path.relative_to(directory).as_posix()
    hint = "re-run the arena into that folder"
    f = _Fields(str(path), hint)
    rec = f.obj(read_json(path, str(path), hint), "the file")
    dets = []
    for i, d in enumerate(f.items(rec.get("detectors"), "detectors", 1000)):
        w = f"detectors[{i}]"
        d = f.obj(d, w)
        dets.append(Detector(
            name=f.text(d.get("name"), f"{w}.name", "?"), needs_key=bool(f.flag(d.get("needs_key"), f"{w}.needs_key")),
            auc=f.number(d.get("auc"), f"{w}.auc"), auc_ci=f.pair(d.get("auc_ci"), f"{w}.auc_ci"),
            tpr_at_5fpr=f.number(d.get("tpr_at_5fpr"), f"{w}.tpr_at_5fpr"),
            cross_entropy=f.number(d.get("cross_entropy"), f"{w}.cross_entropy"),
            errors=tuple(f.text(e, f"{w}.errors[{j}]") for j, e in enumerate(f.items(d.get("errors"), f"{w}.errors", 100))),
            p_holm=f.number(d.get("p_holm"), f"{w}.p_holm"), verdict=f.text(d.get("verdict"), f"{w}.verdict"),
            auc_ci_simultaneous=f.pair(d.get("auc_ci_simultaneous"), f"{w}.auc_ci_simultaneous")))
    cons = f.obj(rec.get("construction"), "construction")
    mt = f.obj(rec.get("multiple_testing"), "multiple_testing")
    verdict, separating = rec.get("verdict"), None
    if isinstance(verdict, dict):  # {"text", "separating": [names], "method", ...}
        separating = [f.text(x, f"verdict.separating[{j}]") for j, x in enumerate(f.items(verdict.get("separating"), "verdict.separating"))]
        verdict = f.text(verdict.get("text"), "verdict.text")
    else:
        verdict = f.text(verdict, "verdict")
    return Arena(rel=rel, folder=path.parent, scheme=f.text(rec.get("scheme"), "scheme", "?"), data=f.text(rec.get("data"), "data", "?"),
                 n_models=f.integer(rec.get("n_models"), "n_models"), detectors=dets, seed=f.integer(rec.get("seed"), "seed"),
                 figures=[f.figure(x, f"figures[{j}]") for j, x in enumerate(f.items(rec.get("figures"), "figures", 100))],
                 note=f.text(cons.get("note"), "construction.note"), params={k: v for k, v in cons.items() if k != "note"},
                 versions=f.strings(rec.get("versions"), "versions"), method=f.text(mt.get("method"), "multiple_testing.method"),
                 verdict=verdict, separating_names=separating)


def find_arenas(directory: str | Path) -> list[Arena]:
    """Every DIR/**/arena.json as a typed record (the first bad one raises ReportInputError)."""
    directory = Path(directory)
    return [load_arena(p, directory) for p in arena_paths(directory)]


# --- figures ---------------------------------------------------------------------------------------------

def figure_bytes(folder: Path, name: str) -> tuple[bytes, str] | None:
    """(bytes, MIME type) of figure ``name`` in ``folder``; None when absent; ReportInputError when refused.

    ``name`` has passed the plain-name check; here: no symlink, a regular file, within the size limit, PNG or JPEG.
    """
    path = folder / name
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise ReportInputError(f"figure {path} is a symlink; the report inlines regular files of its own folder only")
    data = read_bounded(path, "FIGURE_BYTES", f"figure {path}")
    for magic, mime in IMAGE_TYPES.items():
        if data.startswith(magic):
            return data, mime
    raise ReportInputError(f"figure {path} is not a PNG or JPEG image; the report inlines images only")


# --- scan.json (optional) -----------------------------------------------------------------------------------

MAX_SCAN_ROWS, MAX_SCAN_COLUMNS = 200, 10


def load_scan(directory: Path) -> tuple[list[str], list[list[Any]], str] | None:
    """DIR/scan.json as (columns, rows, title) when present: a list of row objects, or ``{"rows": [...]}``
    (optionally with "title"); None when absent. Values are kept as numbers or text, nothing else."""
    path = Path(directory) / "scan.json"
    if not os.path.lexists(path):
        return None
    hint = "re-run the scan benchmark"
    f = _Fields(str(path), hint)
    data = read_json(path, str(path), hint)
    title = ""
    if isinstance(data, dict):
        title = f.text(data.get("title"), "title") if isinstance(data.get("title"), str) else ""
        if "rows" in data or "table" in data:
            data = data.get("rows", data.get("table"))
        elif data and all(isinstance(v, dict) for k, v in data.items() if k != "title"):  # {name: {column: value}}
            data = [{"name": k, **v} for k, v in list(data.items())[:MAX_SCAN_ROWS + 1] if k != "title"]
        else:
            raise f.fail("the file", "has no 'rows' list (a list of row objects, or {name: {column: value}})")
    rows = f.items(data, "rows", MAX_SCAN_ROWS)
    cols: list[str] = []
    for i, r in enumerate(rows):
        for k in f.obj(r, f"rows[{i}]"):
            if k not in cols:
                cols.append(f.text(k, f"rows[{i}] key"))
    cols = cols[:MAX_SCAN_COLUMNS]
    table = []
    for i, r in enumerate(rows):
        line = []
        for k in cols:
            v = r.get(k)
            line.append(v if (isinstance(v, (int, float)) and not isinstance(v, bool)) else f.text(v if not isinstance(v, bool) else str(v).lower(),
                                                                                                    f"rows[{i}].{k}"))
        table.append(line)
    return cols, table, title
