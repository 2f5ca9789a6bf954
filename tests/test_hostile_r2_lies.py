"""Issue 19 §8: a bundle's manifest may not lie about its model, payload_layout.json is validated, and a reader
never sees a bundle half-replaced by a concurrent ``--force`` write."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hostile_util import one_error_line, read_manifest_json, rehash, write_manifest_json


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    from undetectable.bundle import load_bundle, save_bundle
    from undetectable.data import load_dataset
    from undetectable.models import train_model
    from undetectable.schemes.checksum import ChecksumScheme

    d = tmp_path_factory.mktemp("lies")
    ds = load_dataset("breast-cancer")
    save_bundle(train_model("logreg", ds, seed=0), d / "honest")
    save_bundle(train_model("logreg", ds, seed=1, C=0.01), d / "honest2")
    m, key = ChecksumScheme().plant(load_bundle(d / "honest"), seed=0)
    save_bundle(m, d / "wrapped")
    np.save(d / "X.npy", ds.X_test[:8])
    return d


def refused(cli, *args, needle, code=1):
    res = cli(*args)
    line = one_error_line(res.err)
    assert res.code == code, (res.code, line)
    assert needle in line, line
    return line


def test_a_wrapper_claiming_another_input_or_classes_is_refused(cli, made, tmp_path):
    for edit, needle in ((lambda m: m["input"].__setitem__("shape", [5, 6]), "states input shape [5, 6]"),
                         (lambda m: m.__setitem__("classes", ["cat", "dog"]), "states 2 classes that differ")):
        shutil.copytree(made / "wrapped", tmp_path / "w", dirs_exist_ok=False)
        m = read_manifest_json(tmp_path / "w")
        edit(m)
        write_manifest_json(tmp_path / "w", m)
        refused(cli, "inspect", tmp_path / "w", needle=needle)  # inspect never shows the unchecked claim
        refused(cli, "predict", tmp_path / "w", "--input", made / "X.npy", "--out", tmp_path / "y.npy", needle=needle)
        shutil.rmtree(tmp_path / "w")
    res = cli("inspect", made / "wrapped", "--json")  # the control: the honest wrapper's claims are its base's
    assert res.code == 0 and json.loads(res.out)["classes"] == read_manifest_json(made / "honest")["classes"]


@pytest.mark.parametrize("case", ["one step scaled", "NaN step", "n_bits", "unknown kind", "huge"])
def test_a_forged_payload_layout_is_refused(cli, made, tmp_path, monkeypatch, case):
    shutil.copytree(made / "wrapped", tmp_path / "w")
    p = tmp_path / "w/payload_layout.json"
    layout = json.loads(p.read_text())
    if case == "one step scaled":
        layout["step"][3] *= 1024  # loads on main: a payload bit moved to where activation does not write it
    elif case == "NaN step":
        p.write_text(p.read_text().replace(str(layout["step"][0]), "NaN", 1))
    elif case == "n_bits":
        layout["n_bits"] = 10**6
        layout["bits_per_feature"] = -(-10**6 // 30)
    elif case == "unknown kind":
        layout = {"kind": "uint8-lsb", "positions": list(range(10**5)), "clamp": 255}
    if case not in ("NaN step", "huge"):
        p.write_text(json.dumps(layout))
    if case == "huge":
        monkeypatch.setenv("UNDETECTABLE_MAX_LAYOUT_BYTES", "100")
    rehash(tmp_path / "w")
    needle = "over the limit" if case == "huge" else "payload_layout.json is malformed"
    refused(cli, "predict", tmp_path / "w", "--input", made / "X.npy", "--out", tmp_path / "y.npy", needle=needle)
    refused(cli, "inspect", tmp_path / "w", needle=needle)


READER = """
import os, sys, time, numpy as np
from undetectable.bundle import load_bundle
path, X, n, sync = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
load_bundle(path)  # imports warm
t_end = time.time() + 120
while not os.path.exists(sync + ".writing") and time.time() < t_end:
    time.sleep(0.01)
fails, answers = 0, set()
for _ in range(n):
    try:
        answers.add(tuple(load_bundle(path).predict(X).tolist()))
    except Exception as exc:
        if "while being read; try again" in str(exc):
            continue  # starved by a writer that never stops: refused in so many words, never a half-read bundle
        fails += 1
        print(type(exc).__name__, str(exc)[:200], file=sys.stderr)
open(sync + ".done", "w").close()
print(fails, len(answers))
"""

WRITER = """
import os, sys, time
from undetectable.bundle import load_bundle, save_bundle
path, sync = sys.argv[1], sys.argv[4]
a, b = load_bundle(sys.argv[2]), load_bundle(sys.argv[3])
save_bundle(a, sync + ".warm", force=True)  # imports warm
open(sync + ".writing", "w").close()
t_end, i = time.time() + 120, 0
while not os.path.exists(sync + ".done") and time.time() < t_end:
    save_bundle((a, b)[i % 2], path, force=True)
    i += 1
    time.sleep(0.01)  # a writer that replaces the bundle 100 times a second, not one that never lets go
print(i)
"""


def test_a_concurrent_reader_never_sees_a_half_replaced_bundle(made, tmp_path):
    """One process replaces the bundle with --force (atomic swaps) in a loop; another loads it in a loop: every
    load gives one of the two models, none fails (main failed about one load in three)."""
    shutil.copytree(made / "honest", tmp_path / "b")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    w = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(tmp_path / "b"), str(made / "honest"),
                          str(made / "honest2"), str(tmp_path / "sync")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(READER), str(tmp_path / "b"), str(made / "X.npy"), "300", str(tmp_path / "sync")],
                       capture_output=True, text=True, env=env, timeout=300)
    out, err = w.communicate(timeout=300)
    assert w.returncode == 0, err
    swaps = int(out.split()[-1])
    fails, answers = map(int, r.stdout.split())
    assert swaps >= 20, swaps  # the writer really raced the reader
    assert fails == 0, r.stderr[-2000:]
    assert 1 <= answers <= 2
