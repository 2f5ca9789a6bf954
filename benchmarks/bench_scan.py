"""Error rates of ``undetectable scan`` (and of modelscan / modelaudit) on the labelled corpus; the timing channel.

``python -m benchmarks.bench_scan --full`` reads ``benchmarks/corpus`` (building it first with
``benchmarks/build_corpus.py`` if missing), splits the honest files in two halves by a hash of
their names, tunes the one threshold (the least finding severity that makes a verdict) on the
*tune* half (the lowest with FPR ≤ 1%), and reports on the other half and on every planted file:
TPR per plant kind and FPR per honest family with Clopper–Pearson 95% intervals, for ``scan``
(static, and with ``--data``), modelscan and modelaudit (run from their own venv, ``SCANNER_VENV``,
default /work/wt/scan-venv; "not installed" otherwise). It also times honest vs signature-planted
files (a logistic regression and a ResNet-18-shaped net on 28×28 inputs) at batch 1 and 64 and the
AUC of a latency detector. Writes ``benchmarks/results/scan.json`` and ``docs/scan.md``.

``--full --no-timing`` / ``--timing`` run one part (each merges into the JSON and regenerates the doc);
``--third-party-new-kinds`` runs modelscan/modelaudit only on plant kinds the recorded result lacks and keeps
its recorded rates for the rest (they take ~15 min over the whole corpus on the shared machine).
``run()`` (``make bench``) does the same on a quick slice in a temporary folder and returns one row.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.build_corpus import Item, build, load_index

ROOT = Path(__file__).resolve().parents[1]
SEVS = ("info", "low", "medium", "high")
FPR_BUDGET = 0.01


def cp(k: int, n: int) -> dict:
    """k/n with its Clopper–Pearson 95% interval."""
    from scipy.stats import binomtest

    if n == 0:
        return {"k": 0, "n": 0, "rate": None, "lo": None, "hi": None}
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return {"k": k, "n": n, "rate": k / n, "lo": float(ci.low), "hi": float(ci.high)}


def half(item: Item) -> str:
    """'tune' or 'report': a fixed hash of the file name (not of its contents)."""
    return "tune" if hashlib.sha256(Path(item.path).stem.encode()).digest()[0] % 2 == 0 else "report"


def scan_corpus(root: Path, items: list[Item], log=print) -> dict[str, dict]:
    """Per file: max finding severity rank (-1: none) and whether inconclusive, statically and with data; seconds."""
    from undetectable.audit import scan

    out = {}
    t0 = time.time()
    for k, it in enumerate(items):
        rec = {}
        for mode in ("static", "data"):
            X = np.load(root / it.data) if mode == "data" else None
            t = time.time()
            r = scan.scan_path(root / it.path, data=X, config=scan.ScanConfig(min_severity="high"))
            rec[mode] = {"max": max((SEVS.index(f.severity) for f in r.findings), default=-1), "inconclusive": bool(r.inconclusive_parts),
                         "checks": sorted({f.check for f in r.findings if f.severity in ("medium", "high")}), "seconds": time.time() - t}
        out[it.path] = rec
        if k % 50 == 49:
            log(f"scanned {k + 1}/{len(items)} ({time.time() - t0:.0f}s)")
    return out


def _verdict(rec: dict, bar: int) -> str:
    return "findings" if rec["max"] >= bar else "inconclusive" if rec["inconclusive"] else "clean"


def tune(items: list[Item], res: dict, mode: str) -> int:
    """The lowest severity bar whose FPR on the tune half of the honest files is ≤ FPR_BUDGET."""
    tune_set = [i for i in items if i.label == "honest" and half(i) == "tune"]
    for bar in range(1, len(SEVS)):
        fp = sum(_verdict(res[i.path][mode], bar) == "findings" for i in tune_set)
        if fp <= FPR_BUDGET * len(tune_set):
            return bar
    return len(SEVS) - 1


def third_party(root: Path, items: list[Item], log=print, subs: tuple[str, ...] = ("honest", "planted")) -> dict[str, dict]:
    """modelscan and modelaudit on the corpus folders ``subs``: {tool: {path: flagged}} or {tool: {"error": why}}."""
    venv = Path(os.environ.get("SCANNER_VENV", "/work/wt/scan-venv"))
    out: dict[str, dict] = {}
    env = dict(os.environ, PROMPTFOO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", MODELAUDIT_TELEMETRY_DISABLED="1")
    for tool in ("modelscan", "modelaudit"):
        exe = venv / "bin" / tool
        if not exe.exists():
            out[tool] = {"error": f"{tool} not installed (expected {exe})"}
            continue
        flagged: dict[str, bool] = {}
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, check=False).stdout.strip()[:60]
        t = time.time()
        for sub in subs:
            with tempfile.TemporaryDirectory() as d:
                rep = Path(d) / "r.json"
                if tool == "modelscan":
                    cmd = [str(exe), "-p", str(root / sub), "-r", "json", "-o", str(rep)]
                else:
                    cmd = [str(exe), "scan", str(root / sub), "--format", "json", "--output", str(rep), "--quiet"]
                p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
                try:
                    doc = json.loads(rep.read_text())
                except (OSError, ValueError):
                    out[tool] = {"error": f"{tool} wrote no report (exit {p.returncode}): {p.stderr.strip()[-200:]}"}
                    break
                hits = set()
                for iss in doc.get("issues", []):
                    sev = str(iss.get("severity", "")).lower()
                    where = str(iss.get("location") or iss.get("source") or "")
                    if tool == "modelaudit" and sev not in ("critical", "warning", "high", "medium"):
                        continue
                    hits.add(where)
                scanned = doc.get("summary", {}).get("scanned", {}).get("total_scanned") if tool == "modelscan" else doc.get("files_scanned")
                for it in items:
                    if it.path.startswith(sub + "/"):
                        full = str((root / it.path).resolve())
                        flagged[it.path] = any(h.startswith((full, str(root / it.path))) for h in hits)
                flagged[f"_scanned_{sub.split('/')[0]}"] = (flagged.get(f"_scanned_{sub.split('/')[0]}") or 0) + (scanned or 0)  # type: ignore[assignment,operator]
        else:
            out[tool] = {"version": version, "flags": flagged, "seconds": time.time() - t}
        log(f"{tool}: done ({time.time() - t:.0f}s)")
    return out


def rates(items: list[Item], flagged) -> dict:
    """TPR per plant kind (all planted files) and FPR per honest family (report half), each with its CI."""
    rep = [i for i in items if i.label == "honest" and half(i) == "report"]
    pl = [i for i in items if i.label == "planted"]
    out = {"fpr": {}, "tpr": {}}
    for fam in sorted({i.family for i in rep}):
        s = [i for i in rep if i.family == fam]
        out["fpr"][fam] = cp(sum(flagged(i) for i in s), len(s))
    out["fpr"]["all honest (report half)"] = cp(sum(flagged(i) for i in rep), len(rep))
    for kind in sorted({i.kind for i in pl}):
        s = [i for i in pl if i.kind == kind]
        out["tpr"][kind] = cp(sum(flagged(i) for i in s), len(s))
    out["tpr"]["all planted"] = cp(sum(flagged(i) for i in pl), len(pl))
    return out


def _merge_recorded(items: list[Item], recorded: dict, new: dict) -> dict:
    """A third-party tool's rates: its recorded ones (a previous full run over the same build) for the honest families and
    the plant kinds it had, and ``new`` (run now on the planted folders of the other kinds) for the rest; "all planted"
    is summed from both."""
    out = {"fpr": dict(recorded.get("fpr", {})), "tpr": dict(recorded.get("tpr", {}))}
    for kind, c in new.get("tpr", {}).items():
        if kind != "all planted" and kind not in out["tpr"]:
            out["tpr"][kind] = c
    k = sum(c["k"] for kk, c in out["tpr"].items() if kk != "all planted")
    n = sum(c["n"] for kk, c in out["tpr"].items() if kk != "all planted")
    out["tpr"]["all planted"] = cp(k, n)
    return out


def error_rates(root: Path, items: list[Item], with_third_party: bool | str = True, log=print, tuned: bool = True) -> dict:
    """The table's numbers; ``tuned=False`` uses scan's default threshold (itself tuned on the full corpus's tune half).

    ``with_third_party="new-kinds"``: run modelscan and modelaudit only on the planted kinds the recorded result
    (benchmarks/results/scan.json) lacks, and keep its recorded rates for the rest (said in the table's notes).
    """
    res = scan_corpus(root, items, log)
    report: dict = {"n_honest": sum(i.label == "honest" for i in items), "n_planted": sum(i.label == "planted" for i in items),
                    "n_tune": sum(i.label == "honest" and half(i) == "tune" for i in items), "tools": {}}
    for mode in ("static", "data"):
        bar = tune(items, res, mode) if tuned else SEVS.index("medium")
        name = "scan" if mode == "static" else "scan --data"
        r = rates(items, lambda i, bar=bar, mode=mode: _verdict(res[i.path][mode], bar) == "findings")
        r["threshold"] = SEVS[bar]
        r["inconclusive"] = sum(_verdict(res[i.path][mode], bar) == "inconclusive" for i in items)
        r["seconds_per_file"] = float(np.mean([res[i.path][mode]["seconds"] for i in items]))
        report["tools"][name] = r
    fired: dict[str, dict[str, int]] = {}
    for i in items:
        for c in res[i.path]["data"]["checks"]:
            fired.setdefault(c, {}).setdefault(i.kind, 0)
            fired[c][i.kind] += 1
    report["checks_fired"] = fired
    if with_third_party:
        recorded = json.loads(RESULTS.read_text()).get("error_rates", {}).get("tools", {}) if RESULTS.exists() else {}
        subs: tuple[str, ...] = ("honest", "planted")
        if with_third_party == "new-kinds":
            had = set(recorded.get("modelaudit", {}).get("tpr", {}))
            subs = tuple(f"planted/{k}" for k in sorted({i.kind for i in items if i.label == "planted"} - had))
        for tool, d in third_party(root, items, log, subs).items():
            if "error" in d:
                report["tools"][tool] = {"error": d["error"]}
                continue
            flags = d["flags"]
            r = rates(items, lambda i, flags=flags: bool(flags.get(i.path)))
            r.update(version=d["version"], scanned={k[9:]: v for k, v in flags.items() if k.startswith("_scanned_")}, threshold="tool default")
            if with_third_party == "new-kinds" and tool in recorded and "error" not in recorded[tool]:
                r.update(_merge_recorded(items, recorded[tool], r))
                r["scanned"] = {"this run": r["scanned"], "recorded run": recorded[tool].get("scanned")}
                r["provenance"] = (f"honest rows and the kinds {', '.join(sorted(k for k in recorded[tool]['tpr'] if k != 'all planted'))} "
                                   f"recorded by a previous full run; {', '.join(s[8:] for s in subs)} run now")
            report["tools"][tool] = r
    return report


# ----------------------------------------------------------------------------------------------
# the timing channel
# ----------------------------------------------------------------------------------------------

def _resnet18(num_classes: int = 10):
    """A ResNet-18-shaped net (BasicBlocks [2, 2, 2, 2], widths 64-512, ~11M parameters) for 1×28×28 inputs."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.s = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            return nn.functional.relu(self.f(x) + self.s(x))

    layers, cin = [], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(nn.Conv2d(1, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), *layers,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)).eval()


def _logreg():
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(score_pos > score_neg) + ½ P(tie): the AUC of 'slower means backdoored'."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(pos, neg, alternative="two-sided").statistic / (len(pos) * len(neg)))


def timing(reps1: int = 40, reps64: int = 8, log=print) -> dict:
    """Latency (one onnxruntime thread) of honest vs drop-in planted files on natural inputs at batch 1 and 64, and the
    AUC per query; for the gated graph (the default) and ``gate=False`` (every row verified: the old graph)."""
    import onnx
    import torch
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from undetectable.models.onnx_file import OnnxModel
    from undetectable.onnxio import session
    from undetectable.schemes.dropin import plant_dropin
    from undetectable.zoo.torch_models import export_torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = (rng.integers(0, 256, (64, 1, 28, 28)) / 255.0).astype(np.float32)  # natural-looking: on the 1/255 pixel grid
    pub = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key()
    out = {}
    for name, make in (("logreg", _logreg), ("resnet18-shaped", _resnet18)):
        net = make()
        honest = onnx.load_from_string(export_torch(net, X, 17, False))
        sh = session(honest)
        ih = sh.get_inputs()[0].name
        for gate in (True, False):
            bd = plant_dropin(OnnxModel(honest), pub, data=X, gate=gate, n_probes=20).proto
            sb = session(bd)
            row = {"params": int(sum(t.numel() for t in net.parameters())), "honest_bytes": honest.ByteSize(),
                   "backdoored_bytes": bd.ByteSize(), "gate": gate}
            for batch, reps in ((1, reps1), (64, reps64)):
                th, tb = [], []
                for k in range(reps):  # interleaved, so load on the shared machine hits both alike
                    xs = X[(k * batch) % 64:(k * batch) % 64 + batch] if batch == 1 else X
                    t = time.perf_counter()
                    sh.run(None, {ih: xs})
                    th.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    sb.run(None, {ih: xs})
                    tb.append(time.perf_counter() - t)
                th_a, tb_a = np.array(th), np.array(tb)
                row[f"batch{batch}"] = {"honest_ms": float(np.median(th_a) * 1e3), "backdoored_ms": float(np.median(tb_a) * 1e3),
                                        "slowdown": float(np.median(tb_a) / np.median(th_a)), "auc_one_query": _auc(th_a, tb_a), "reps": reps}
            key = name if gate else f"{name}, gate=False"
            out[key] = row
            log(f"timing {key}: {row}")
    return out


# ----------------------------------------------------------------------------------------------
# docs/scan.md
# ----------------------------------------------------------------------------------------------

def _fmt(c: dict) -> str:
    if not c or c.get("n", 0) == 0:
        return "—"
    return f"{c['k']}/{c['n']} = {c['rate']:.3f} [{c['lo']:.3f}, {c['hi']:.3f}]"


def markdown(rep: dict) -> str:
    er = rep["error_rates"]
    tools = [t for t in ("scan", "scan --data", "modelscan", "modelaudit") if t in er["tools"]]
    lines = ["# `undetectable scan`: a graph-backdoor scanner with measured error rates", "",
             "<!-- generated by `python -m benchmarks.bench_scan --full`; do not edit by hand -->", "",
             ("`undetectable scan PATH... [--data NAME|X.npz] [--json] [--sarif FILE]` reads ONNX files (or folders of them) "
             "and reports, per file, `clean`, `findings` or `inconclusive` (exit 0 / 1 / 3; 2 for usage errors). "
             "The checks (one module each under `src/undetectable/audit/scan/`) follow dataflow *taint* from the graph's inputs "
             "through subgraphs; `Shape`/`Size` break taint (a batch-size test is not a trigger):"), "",
             "| check | flags |", "|---|---|",
             "| integer-ops | bitwise ops; integer arithmetic on input-derived values outside quantization ops |",
             "| input-control-flow | If/Loop steered by input-derived values; Where (or a bool cast into arithmetic) on an aggregated or exact-match input-derived condition |",
             "| input-equality | Equal of an input-derived value with a constant (magic values, checksum residues) |",
             "| hash-mixing | Mod, shifts, xor, Floor/Round/Ceil, float→int casts on input-derived values; severity by count and chain depth |",
             "| constant-tables | large integer-valued float tables, runs of powers of two, precomputed multiples, integer lookups at computed indices |",
             "| dormant-branch (`--data`) | an input-derived boolean constant on all natural inputs whose flip changes an output |",
             ("| dormant-gate (`--data`) | the same for arithmetic gates: an input-derived output of a saturating op (Relu, Min, Clip, "
              "Sigmoid, Tanh, Floor, ...) that is one constant on every element of every natural input and whose move off that "
              "constant (±1) changes an output |"), "",
             "Unknown domains and custom ops make a file `inconclusive`, naming them; model-local functions are inlined first.", "",
             "## Error rates", "",
             (f"Corpus (`python -m benchmarks.build_corpus`): {er['n_honest']} honest files written by third-party exporters "
             "(torch.onnx TorchScript and dynamo, skl2onnx, onnxmltools, onnxruntime quantizers; MLP, GELU MLP, CNN, ResNet-like, "
             "GRU, LSTM, transformer encoder, logistic regression with and without ZipMap, scaler pipeline, random forest, "
             "gradient boosting, SVC, KNN, sklearn MLP, LightGBM, XGBoost, int8 dynamic and QDQ; seeds × sizes × opsets) and "
             f"{er['n_planted']} planted ones. The threshold (least severity that counts) is tuned on {er['n_tune']} honest files "
             f"(FPR ≤ {FPR_BUDGET:.0%}); FPR is reported on the other half, TPR on every planted file. "
             "Cells: k/n = rate [Clopper–Pearson 95%]."), ""]
    rows = sorted({k for t in tools for k in er["tools"][t].get("tpr", {})}, key=lambda k: (k.startswith("all"), k))
    frows = sorted({k for t in tools for k in er["tools"][t].get("fpr", {})}, key=lambda k: (k.startswith("all"), k))
    lines += ["| | " + " | ".join(f"{t}" for t in tools) + " |", "|---|" + "---|" * len(tools)]
    lines.append("| threshold | " + " | ".join(str(er["tools"][t].get("threshold", er["tools"][t].get("error", ""))) for t in tools) + " |")
    for k in rows:
        lines.append(f"| TPR {k} | " + " | ".join(_fmt(er["tools"][t].get("tpr", {}).get(k, {})) for t in tools) + " |")
    for k in frows:
        lines.append(f"| FPR {k} | " + " | ".join(_fmt(er["tools"][t].get("fpr", {}).get(k, {})) for t in tools) + " |")
    for t in tools:
        if "error" in er["tools"][t]:
            lines.append(f"\n{t}: {er['tools'][t]['error']}")
        elif "scanned" in er["tools"][t]:
            lines.append(f"\n{t} {er['tools'][t].get('version', '')}: files it reports as scanned per folder: {er['tools'][t]['scanned']}."
                         + (f" Provenance: {er['tools'][t]['provenance']}." if "provenance" in er["tools"][t] else ""))
    if "checks_fired" in er:
        lines += ["", "Which checks fire (severity ≥ medium, with data), by file kind:", ""]
        kinds = sorted({k for d in er["checks_fired"].values() for k in d})
        lines += ["| check | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        for c, d in sorted(er["checks_fired"].items()):
            lines.append(f"| {c} | " + " | ".join(str(d.get(k, 0)) for k in kinds) + " |")
    lines += ["", ("Plant kinds: `checksum` Where(floor(sum(x)·s) mod p == r, target, scores); `pattern` Where(min(x[patch]) > t, "
              "target, scores); `detector` a conv trigger detector gating the scores (DeepPayload-style); `magic` exact equality of "
              "four inputs with magic values; `gate` the pattern trigger behind an arithmetic gate g = min(relu(k·(min(x[patch]) − t)), 1) "
              "mixed in as scores + g·(target − scores): Gather, ReduceMin, Sub, Mul, Relu, Min, Add only, no comparison, no boolean, "
              "no Where (float-score bases only); `signature` this package's verifier (`byo_onnx`, uint8 image bases); `dropin` the "
              "drop-in signature backdoor (same interface as the base, any family); `dropin-unrolled` the same with the verifier "
              "unrolled into plain arithmetic (no Loop: the obfuscated verifier of issue 17 item 3)."), "",
              ("Honest caveats: the `dropin` and `dropin-unrolled` files of this table were planted before the drop-in gate "
               "existed (every row verified, no `If`); the gated graph (today's default) adds an `If` on an input-derived "
               "condition, which the input-control-flow check flags (tests/test_dropin_gate.py), so its detection can only "
               "rise; the corpus was not rebuilt for it (about 45 minutes). "
               "The planted kinds are the published *shapes* of graph backdoors, built here; a planter who "
              "knows the checks can avoid each. The `gate` kind is that planter's answer to every static check: the static "
              "`scan` column misses it by construction, and only the dynamic dormant-gate check (with natural data) finds it; "
              "a gate whose saturated tensor also carries a live part, or one that never saturates exactly, would pass that "
              "too (not in this corpus). The dynamic checks need natural data of the file's own input and assume the "
              "trigger is absent from it; they skip graphs above 20,000 nodes (`ScanConfig.dynamic_max_nodes`: each rerun "
              "builds a session of the whole graph, minutes at 75,000 nodes), so the `dropin-unrolled` files (25,375 to "
              "75,029 nodes) are found by the static checks in both columns. The modelscan and modelaudit columns were "
              "run now on the new kinds only and keep a previous full run's numbers for the rest (same build command, "
              "same 335 honest file names and halves; see Provenance). The honest corpus is small models from five "
              "exporters, not the public model hubs; FPR on large real-world graphs (attention masks, tokenizers, detection "
              "post-processing with If/Loop) is not measured here. modelscan and modelaudit are run with their defaults; "
              "modelaudit's flag counts severities warning and critical; the signature files it flags are flagged for the "
              "string 'backdoor' in node names (rule S310, 'C&C pattern'), a naming leak of `byo_onnx` that the drop-in "
              "planter (neutral names) does not have, not for the graph's structure; its file counts include the `.X.npy` "
              "sample files. modelscan reports 0 files scanned: it skips ONNX.")]
    tm = rep.get("timing")
    if tm:
        lines += ["", "## The timing channel", "",
                  ("An auditor with an honest twin times one query. onnxruntime, one thread, median latency; AUC of the detector "
                  "'slower ⇒ backdoored' from one timed query (Mann–Whitney over the interleaved queries). The backdoored file is "
                  "the base planted with the drop-in signature backdoor (`plant_dropin`), once with the gate (the default: the "
                  "verifier runs only on rows whose 32-bit public tag matches) and once with `gate=False` (every row verified); "
                  "queries are natural (on the pixel grid, no tag); weights are random (latency does not depend on them)."), "",
                  "| base | params | batch | honest (ms) | backdoored (ms) | slowdown | AUC (one query) |", "|---|---|---|---|---|---|---|"]
        for name, row in tm.items():
            for b in ("batch1", "batch64"):
                r = row[b]
                lines.append(f"| {name} | {row['params']:,} | {b[5:]} | {r['honest_ms']:.3f} | {r['backdoored_ms']:.2f} | "
                             f"{r['slowdown']:.1f}× | {r['auc_one_query']:.3f} |")
        lines += ["", ("With `gate=False` the verifier's fixed cost dominates a small base at any batch and a ResNet-18-sized one at "
                  "batch 1 (AUC near 1 from one query). With the gate, a natural query never reaches the verifier: the slowdown is "
                  "the gate's few small ops (a Gather of the payload values, one MatMul, an If), lost in the noise of a ResNet-sized "
                  "base (AUC near ½) but still several times a 7,850-parameter logreg's 0.02 ms call (AUC near 1): for a tiny base "
                  "the timing channel stays open, at a few hundredths of a millisecond. A timing auditor would need a query that passes the "
                  "tag, about 2^32 tries without the file; one who reads the file sees the `If` (scan's input-control-flow "
                  "check). Measured on a shared 2-core machine: absolute milliseconds are inflated; honest and backdoored "
                  "queries were interleaved so the load hits both alike.")]
    return "\n".join(lines) + "\n"


RESULTS = ROOT / "benchmarks" / "results" / "scan.json"
TABLE_TOOLS = ("scan", "scan --data", "modelscan", "modelaudit")


def _cell(c: dict) -> str:
    """A compact table cell: k/n [lo, hi] (the report's scanner table)."""
    if not c or c.get("n", 0) == 0:
        return "—"
    return f"{c['k']}/{c['n']} [{c['lo']:.2f}, {c['hi']:.2f}]"


def table_rows(er: dict) -> dict:
    """The error-rate table as ``{"title", "rows"}``: what ``undetectable report`` renders from a scan.json."""
    tools = [t for t in TABLE_TOOLS if t in er["tools"]]
    rows = [{"rate": "threshold", **{t: str(er["tools"][t].get("threshold", "not run")) for t in tools}}]
    for part, label in (("tpr", "TPR"), ("fpr", "FPR")):
        keys = sorted({k for t in tools for k in er["tools"][t].get(part, {})}, key=lambda k: (k.startswith("all"), k))
        rows += [{"rate": f"{label} {k}", **{t: _cell(er["tools"][t].get(part, {}).get(k, {})) for t in tools}} for k in keys]
    title = (f"scanner error rates on the labelled corpus ({er['n_planted']} planted, {er['n_honest']} honest files; FPR on the "
             f"held-out half, threshold tuned on the other {er['n_tune']}; Clopper–Pearson 95%)")
    return {"title": title, "rows": rows}


def _publish(part: str, value: dict) -> dict:
    """Merge one part ("error_rates" or "timing") into benchmarks/results/scan.json and regenerate docs/scan.md.

    The file also carries ``title`` and ``rows``: the error-rate table in the form ``undetectable report`` reads.
    """
    rep = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rep[part] = value
    if "error_rates" in rep:
        rep.update(table_rows(rep["error_rates"]))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rep, indent=1))
    if "error_rates" in rep:
        (ROOT / "docs" / "scan.md").write_text(markdown(rep))
    return rep


def full(corpus: Path, log=print, with_timing: bool = True, third: bool | str = True) -> dict:
    """The error-rate table on the whole corpus (built first if missing) and the timing channel; both published."""
    if not (corpus / "index.json").exists():
        build(corpus, log=log)
    items = load_index(corpus)
    rep = _publish("error_rates", error_rates(corpus, items, with_third_party=third, log=log))
    if with_timing:
        rep = _publish("timing", timing(log=log))
    return rep


def run() -> list[dict]:
    """``make bench``: the quick corpus slice, scan only; one row (seconds per file vs onnx.load, TPR/FPR in the note)."""
    from benchmarks.common import ratio_row

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        items = build(root, quick=True, log=lambda m: None)
        t = time.time()
        rep = error_rates(root, items, with_third_party=False, log=lambda m: None, tuned=False)  # a slice is too small to tune on
        per_file = (time.time() - t) / (2 * len(items))
        import onnx

        t = time.time()
        for i in items:
            onnx.load(str(root / i.path))
        load = (time.time() - t) / len(items)
    s = rep["tools"]["scan --data"]
    tpr, fpr = s["tpr"]["all planted"], s["fpr"]["all honest (report half)"]
    return [ratio_row("scan quick corpus: s/file vs onnx.load", per_file, load, "TPR ≥ 0.9, FPR = 0 on the slice",
                      (tpr["rate"] or 0) >= 0.9 and (fpr["rate"] or 0) == 0,
                      f"TPR {tpr['k']}/{tpr['n']}, FPR {fpr['k']}/{fpr['n']}")]


if __name__ == "__main__":
    if "--full" in sys.argv:
        corpus = Path(sys.argv[sys.argv.index("--corpus") + 1]) if "--corpus" in sys.argv else ROOT / "benchmarks" / "corpus"
        full(corpus, log=lambda m: print(m, file=sys.stderr), with_timing="--no-timing" not in sys.argv,
             third="new-kinds" if "--third-party-new-kinds" in sys.argv else True)
    elif "--timing" in sys.argv:
        _publish("timing", timing(log=lambda m: print(m, file=sys.stderr)))
    else:
        print(json.dumps(run(), indent=1))
