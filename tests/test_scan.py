"""`undetectable scan`: each check fires on its planted tiny graph and stays silent on an honest zoo slice."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import assert_clean_failure
from onnx import TensorProto, helper, numpy_helper

from undetectable import zoo
from undetectable.audit import scan
from undetectable.zoo import plants

F = TensorProto.FLOAT


def model(nodes, inits=(), in_type=F, shape=("n", 4), out_type=F, out_shape=("n", 4), functions=(), extra_opsets=()):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", in_type, list(shape))],
                          [helper.make_tensor_value_info("y", out_type, list(out_shape))], list(inits))
    ops = [helper.make_opsetid("", 18)] + [helper.make_opsetid(d, 1) for d in extra_opsets]
    m = helper.make_model(g, opset_imports=ops, functions=list(functions))
    m.ir_version = 9
    return m


def const(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def checks_at(result, at_least="medium"):
    return {f.check for f in result.findings if scan.severity_rank(f.severity) >= scan.severity_rank(at_least)}


def test_integer_ops_fire_on_bitwise_and_integer_arithmetic():
    r = scan.scan_model(model([helper.make_node("BitwiseXor", ["x", "x"], ["y"])], in_type=TensorProto.INT64, out_type=TensorProto.INT64))
    assert r.verdict == "findings" and "integer-ops" in checks_at(r, "high")
    assert r.findings[0].nodes == ("BitwiseXor_0",)
    m = model([helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT64), helper.make_node("Mul", ["xi", "k"], ["p"]),
               helper.make_node("Cast", ["p"], ["y"], to=F)], [const("k", np.array(3, np.int64))])
    assert "integer-ops" in checks_at(scan.scan_model(m))


def test_control_flow_if_on_input_but_not_on_shape():
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", F, None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", F, None)])
    hot = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Greater", ["s", "z"], ["c"]),
           helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)]
    r = scan.scan_model(model(hot, [const("z", np.float32(0))]))
    assert "input-control-flow" in checks_at(r, "high")
    cold = [helper.make_node("Shape", ["x"], ["sh"]), helper.make_node("Gather", ["sh", "zero"], ["n0"], axis=0),
            helper.make_node("Greater", ["n0", "zi"], ["c"]), helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)]
    r = scan.scan_model(model(cold, [const("zero", np.int64(0)), const("zi", np.int64(0))]))
    assert r.verdict == "clean", r.findings  # the control: a batch-size test is not input-derived


def test_where_on_aggregated_condition_but_not_elementwise():
    agg = [helper.make_node("ReduceSum", ["x", "ax"], ["s"], keepdims=1), helper.make_node("Greater", ["s", "z"], ["c"]),
           helper.make_node("Where", ["c", "t", "x"], ["y"])]
    inits = [const("ax", np.array([1], np.int64)), const("z", np.float32(100)), const("t", np.ones((1, 4), np.float32))]
    assert "input-control-flow" in checks_at(scan.scan_model(model(agg, inits)))
    leaky = [helper.make_node("Greater", ["x", "z"], ["c"]), helper.make_node("Mul", ["x", "a"], ["xa"]),
             helper.make_node("Where", ["c", "x", "xa"], ["y"])]
    r = scan.scan_model(model(leaky, [const("z", np.float32(0)), const("a", np.float32(0.1))]))
    assert r.verdict == "clean", r.findings


def test_equality_against_constant():
    m = model([helper.make_node("Equal", ["x", "m"], ["e"]), helper.make_node("Cast", ["e"], ["y"], to=F)],
              [const("m", np.float32([1, 2, 3, 4]))])
    assert "input-equality" in checks_at(scan.scan_model(m), "high")


def test_hash_mixing_chain():
    m = model([helper.make_node("Floor", ["x"], ["f"]), helper.make_node("Mod", ["f", "p"], ["a"], fmod=1),
               helper.make_node("Mul", ["a", "k"], ["b"]), helper.make_node("Floor", ["b"], ["c"]), helper.make_node("Mod", ["c", "p"], ["y"], fmod=1)],
              [const("p", np.float32(251)), const("k", np.float32(0.37))])
    r = scan.scan_model(m)
    assert "hash-mixing" in checks_at(r, "high")
    assert "chain 4" in next(f.reason for f in r.findings if f.check == "hash-mixing")


def test_constant_tables_big_integers_and_powers_of_two():
    table = np.arange(64, dtype=np.float32).reshape(4, 16) * 4099.0
    m = model([helper.make_node("MatMul", ["x", "T"], ["y"])], [const("T", table)], out_shape=("n", 16))
    r = scan.scan_model(m)
    assert "constant-tables" in checks_at(r)
    pw = (2.0 ** np.arange(16)).astype(np.float32).reshape(4, 4)
    assert "constant-tables" in checks_at(scan.scan_model(model([helper.make_node("MatMul", ["x", "P"], ["y"])], [const("P", pw)])))
    noisy = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    assert scan.scan_model(model([helper.make_node("MatMul", ["x", "T"], ["y"])], [const("T", noisy)], out_shape=("n", 16))).verdict == "clean"


def test_unknown_ops_make_the_file_inconclusive_and_functions_are_inlined():
    custom = helper.make_node("SecretOp", ["x"], ["y"], domain="com.example")
    r = scan.scan_model(model([custom], extra_opsets=["com.example"]))
    assert r.verdict == "inconclusive" and "SecretOp" in r.inconclusive_parts[0] and "com.example" in r.inconclusive_parts[0]
    fn = helper.make_function("local", "mix", ["a"], ["b"], [helper.make_node("Constant", [], ["p"], value_float=7.0),
                                                              helper.make_node("Mod", ["a", "p"], ["b"], fmod=1)],
                              [helper.make_opsetid("", 18)])
    r = scan.scan_model(model([helper.make_node("mix", ["x"], ["y"], domain="local")], functions=[fn], extra_opsets=["local"]))
    assert "hash-mixing" in checks_at(r, "medium"), (r.findings, r.inconclusive_parts)


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    return zoo.build(["skl-logreg-nozipmap", "skl-knn", "skl-rf", "skl-svc", "lgbm", "xgb", "torch-mlp", "torch-gru",
                      "ort-int8-dynamic-mlp"], tmp_path_factory.mktemp("honest"), seed=3)


def test_silent_on_the_honest_slice(honest):
    for e in honest:
        r = scan.scan_path(e.path, data=e.X)
        assert r.verdict == "clean", (e.name, r.findings, r.inconclusive_parts)


@pytest.mark.parametrize("kind", ["checksum", "pattern", "detector", "magic"])
def test_each_plant_is_found_static_and_dormant(honest, kind):
    e = next(x for x in honest if x.name == "torch-mlp")
    p = plants.plant(kind, onnx.load(str(e.path)), e.X, target=2, seed=5)
    before, after = zoo.run(e.path, e.X), plants._run(p.model, e.X)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))  # clean behaviour identical
    assert np.mean(zoo.predicted_labels(plants._run(p.model, p.activate(e.X[:20]))) == 2) >= 0.9  # the trigger works
    static = scan.scan_model(p.model)
    assert static.verdict == "findings", (kind, static.findings)
    dyn = scan.scan_model(p.model, e.X)
    assert "dormant-branch" in checks_at(dyn, "high"), (kind, dyn.findings)


def test_cli_exit_codes_json_and_sarif(cli, honest, tmp_path):
    e = next(x for x in honest if x.name == "torch-mlp")
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    (clean_dir / "m.onnx").write_bytes(e.path.read_bytes())
    assert cli("scan", clean_dir).code == 0
    bad = tmp_path / "bad.onnx"
    onnx.save(plants.plant("magic", onnx.load(str(e.path)), e.X).model, str(bad))
    sarif = tmp_path / "out.sarif"
    res = cli("scan", clean_dir, bad, "--json", "--sarif", sarif)
    assert res.code == 1
    doc = json.loads(res.out)
    assert [r["verdict"] for r in doc["results"]] == ["clean", "findings"]
    log = json.loads(sarif.read_text())
    assert log["version"] == "2.1.0" and any(r["ruleId"] == "input-equality" for r in log["runs"][0]["results"])
    again = cli("scan", bad, "--sarif", sarif)
    assert_clean_failure(again, contains="exists")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert cli("scan", junk).code == 3
    assert_clean_failure(cli("scan", tmp_path / "missing.onnx"), contains="does not exist")
    assert cli("scan", bad, "--min-severity", "bogus").code == 2


def test_dropin_signature_plant_is_found(honest):
    pytest.importorskip("undetectable.schemes.dropin")
    e = next(x for x in honest if x.name == "skl-logreg-nozipmap")
    p = plants.plant("dropin", onnx.load(str(e.path)), e.X, target=1, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(zoo.run(e.path, e.X), plants._run(p.model, e.X)))
    r = scan.scan_model(p.model)
    assert r.verdict == "findings", r.findings


def gate_model(t=0.9):
    """y = x + g·(T − x), g = min(relu(100·(min(x) − t)), 1): an arithmetic trigger gate, no boolean anywhere."""
    nodes = [helper.make_node("ReduceMin", ["x", "ax"], ["mn"], keepdims=1), helper.make_node("Sub", ["mn", "t"], ["d"]),
             helper.make_node("Mul", ["d", "k"], ["z"]), helper.make_node("Relu", ["z"], ["r"]),
             helper.make_node("Min", ["r", "one"], ["g"]), helper.make_node("Sub", ["T", "x"], ["dt"]),
             helper.make_node("Mul", ["g", "dt"], ["m"]), helper.make_node("Add", ["x", "m"], ["y"])]
    inits = [const("ax", np.array([1], np.int64)), const("t", np.float32(t)), const("k", np.float32(100)),
             const("one", np.float32(1)), const("T", np.array([[9, 0, 0, 0]], np.float32))]
    return model(nodes, inits)


def test_dormant_gate_fires_on_an_arithmetic_gate_the_static_checks_miss():
    rng = np.random.default_rng(0)
    natural = (rng.random((64, 4)) * 0.5).astype(np.float32)
    m = gate_model()
    assert np.allclose(plants._run(m, np.ones((1, 4), np.float32))[0], [[9, 0, 0, 0]])  # the trigger works
    assert np.array_equal(plants._run(m, natural)[0], natural)  # natural rows pass through bit-identical
    assert scan.scan_model(m).verdict == "clean"  # no comparison, no Where, no Floor: every static check passes it
    r = scan.scan_model(m, natural)
    assert "dormant-gate" in checks_at(r, "high"), r.findings
    assert any("Min g = 0" in f.reason for f in r.findings if f.check == "dormant-gate")


def test_dormant_gate_silent_when_natural_data_opens_the_gate_or_on_live_relus():
    rng = np.random.default_rng(1)
    natural = (rng.random((64, 4)) * 0.5).astype(np.float32)
    natural[::8] = 1.0  # the gate opens on natural rows: not dormant (a control that can fail)
    assert scan.scan_model(gate_model(), natural).verdict == "clean"
    W = rng.normal(size=(4, 4)).astype(np.float32)
    honest = model([helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["y"]),
                    helper.make_node("Relu", ["y"], ["y2"]), helper.make_node("Identity", ["y2"], ["out"])], [const("W", W)])
    honest.graph.output[0].name = "out"
    r = scan.scan_model(honest, rng.normal(size=(64, 4)).astype(np.float32))
    assert r.verdict == "clean", r.findings


def test_gate_plant_evades_static_checks_but_not_dormant_gate(honest):
    e = next(x for x in honest if x.name == "torch-mlp")
    p = plants.plant("gate", onnx.load(str(e.path)), e.X, target=2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(zoo.run(e.path, e.X), plants._run(p.model, e.X)))  # bit-identical
    assert np.mean(zoo.predicted_labels(plants._run(p.model, p.activate(e.X[:20]))) == 2) >= 0.9
    assert {n.op_type for n in p.model.graph.node} <= {"Cast", "Flatten", "Gemm", "Relu", "MatMul", "Add", "Gather", "ReduceMin",
                                                       "Sub", "Mul", "Min"}
    assert scan.scan_model(p.model).verdict == "clean"
    dyn = scan.scan_model(p.model, e.X)
    assert checks_at(dyn, "high") == {"dormant-gate"}, dyn.findings
    lbl = next(x for x in honest if x.name == "skl-rf")
    with pytest.raises(Exception, match="float"):
        plants.plant("gate", onnx.load(str(lbl.path)), lbl.X)  # a label output would need a Where: refused


def test_unrolled_dropin_plant_has_no_loop_and_is_found(honest):
    pytest.importorskip("undetectable.schemes.dropin")
    e = next(x for x in honest if x.name == "skl-logreg-nozipmap")
    p = plants.plant("dropin-unrolled", onnx.load(str(e.path)), e.X, target=1, seed=3)
    assert p.kind == "dropin-unrolled" and not {"Loop", "Scan"} & {n.op_type for n in p.model.graph.node}
    assert all(np.array_equal(a, b) for a, b in zip(zoo.run(e.path, e.X), plants._run(p.model, e.X)))
    r = scan.scan_model(p.model)
    assert r.verdict == "findings" and {"hash-mixing", "input-equality"} <= checks_at(r, "high"), r.findings


def test_dynamic_checks_respect_the_node_budget_and_say_so():
    natural = (np.random.default_rng(2).random((32, 4)) * 0.5).astype(np.float32)
    r = scan.scan_model(gate_model(), natural, config=scan.ScanConfig(dynamic_max_nodes=3))
    assert r.verdict == "inconclusive" and not r.findings
    assert any("dynamic checks were not run" in p and "8 nodes" in p for p in r.inconclusive_parts), r.inconclusive_parts
    assert scan.scan_model(gate_model(), natural).verdict == "findings"  # the control: within the budget it fires
