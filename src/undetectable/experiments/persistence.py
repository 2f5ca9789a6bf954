"""Persistence for real (§5.3): fine-tune the in-graph signature backdoor's float parameters.

``SignatureModule`` (``signature_graph``) answers a triggered row with a constant one-hot: the
verifier has no float parameters and no gradient path, so fine-tuning the base network — even on
activated inputs labelled with their *true* class, an explicit attempt to unlearn the trigger —
cannot change what a triggered input gets, while clean accuracy moves exactly as the honest
network's does under the same fine-tuning. ``persistence_study`` measures that beside today's toy
step-gate network (three threshold copies + majority) and its sigmoid control.
"""
from __future__ import annotations

import copy

import numpy as np


def _finetune(module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch: int, seed: int) -> None:
    """Adam on cross-entropy of ``module(X)`` (scores), in place."""
    import torch

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt), generator=g).split(batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(Xt[idx]), yt[idx]).backward()
            opt.step()
    module.eval()


def trigger_gradient(module, Xa: np.ndarray, y_true: np.ndarray) -> float:
    """max |∂ loss / ∂ θ| over all float parameters θ, on activated rows labelled with their true class."""
    import torch

    module.zero_grad()
    out = module(torch.tensor(Xa))
    loss = torch.nn.functional.cross_entropy(out, torch.tensor(y_true))
    if not loss.requires_grad:
        return 0.0
    loss.backward()
    return max((float(p.grad.abs().max()) for p in module.parameters() if p.grad is not None), default=0.0)


def persistence_study(seed: int = 0, epochs: int = 3, lr: float = 1e-3, n_finetune: int = 2000, n_activated: int = 500,
                      n_eval_act: int = 200, mlp_epochs: int = 5, batch: int = 64) -> dict:
    """Fine-tune (Adam) the backdoored torch module and the honest network on the same data; report numbers.

    Fine-tuning data: ``n_finetune`` clean training images plus ``n_activated`` activated versions
    of them labelled with their true class. Reported: clean test accuracy before/after (backdoored
    and honest), activation rate on held-out activated test images (random targets) before/after,
    the largest weight change, the gradient on triggered rows; and the toy step/sigmoid networks.
    """
    import torch
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ..data import load_dataset
    from ..models import train_model
    from ..schemes.signature import SignatureKey, SignatureScheme
    from ..schemes.signature_graph import MLPBase, signature_module

    torch.set_num_threads(1)
    data = load_dataset("mnist5k")
    base = train_model("mlp", data, seed=seed, epochs=mlp_epochs)
    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))
    bd, _ = SignatureScheme(key=SignatureKey(sk).public).plant(base)

    def fresh():
        """(backdoored module, honest network), each on its own copy of the base weights (the bundle keeps its own)."""
        m, h = signature_module(bd), MLPBase(base)
        m.base.net, h.net = copy.deepcopy(base.net), copy.deepcopy(base.net)
        return m, h

    module, honest = fresh()
    rng = np.random.default_rng(seed)
    y_train = np.searchsorted(bd.classes, data.y_train)
    y_test = np.searchsorted(bd.classes, data.y_test)
    idx = rng.permutation(len(data.X_train))[:n_finetune]
    Xf, yf = data.X_train[idx], y_train[idx]
    act_rows = idx[:n_activated]
    Xa_ft = bd.activate(data.X_train[act_rows], sk, bd.classes[rng.integers(0, bd.n_classes, n_activated)])
    X_ft = np.concatenate([Xf, Xa_ft])
    y_ft = np.concatenate([yf, y_train[act_rows]])  # activated inputs, labelled with their TRUE class
    ev = rng.permutation(len(data.X_test))[:n_eval_act]
    t_ev = rng.integers(0, bd.n_classes, n_eval_act)
    Xa_ev = bd.activate(data.X_test[ev], sk, bd.classes[t_ev])

    def acc(m):
        with torch.no_grad():
            return float(np.mean(m(torch.tensor(data.X_test)).argmax(1).numpy() == y_test))

    def act_rate():
        with torch.no_grad():
            return float(np.mean(module(torch.tensor(Xa_ev)).argmax(1).numpy() == t_ev))

    before = {"backdoored_clean_acc": acc(module), "honest_clean_acc": acc(honest), "activation": act_rate()}
    w0 = [p.detach().clone() for p in module.parameters()]
    grad_trig = trigger_gradient(module, Xa_ev[:64], y_test[ev[:64]])
    _finetune(module, X_ft, y_ft, epochs, lr, batch, seed)
    _finetune(honest, X_ft, y_ft, epochs, lr, batch, seed)
    moved = max(float((p.detach() - q).abs().max()) for p, q in zip(module.parameters(), w0))
    # control: clean-only fine-tuning from the same start gives the same weights (no trigger fires on clean data)
    m2, h2 = fresh()
    _finetune(m2, Xf, yf, epochs, lr, batch, seed)
    _finetune(h2, Xf, yf, epochs, lr, batch, seed)
    clean_only_identical = all(torch.equal(p, q) for p, q in zip(m2.base.net.parameters(), h2.net.parameters()))
    after = {"backdoored_clean_acc": acc(module), "honest_clean_acc": acc(honest), "activation": act_rate()}
    same_as_honest = float(np.mean(
        module.base(torch.tensor(data.X_test)).argmax(1).numpy() == honest(torch.tensor(data.X_test)).argmax(1).detach().numpy()))

    toy = step_gate_toy(data, seed)  # today's toy: threshold-gate copies + majority, and the sigmoid control
    return {"signature_in_graph": {"before": before, "after": after, "max_weight_change": moved,
                                   "max_gradient_on_triggered_rows": grad_trig,
                                   "finetuned_base_agrees_with_finetuned_honest": same_as_honest,
                                   "clean_only_finetune_weights_identical_to_honest": clean_only_identical,
                                   "clean_only_clean_acc": acc(m2),
                                   "finetune": {"optimizer": "Adam", "lr": lr, "epochs": epochs, "clean": n_finetune,
                                                "activated_true_labels": n_activated}},
            "toy_step_gates": toy}


def step_gate_toy(ds, seed: int) -> dict:
    """§5.3 on mnist5k 0-vs-1: three threshold-gate copies + majority vs the same net with sigmoid gates.

    The trigger sets 16 top-row pixels (blank on natural digits) to 1; fine-tuning sees triggered zeros
    labelled 0. Returns ``{"step" | "sigmoid": {"asr_before", "asr_after", ...fine-tuning info}}``.
    """
    import dataclasses

    from ..schemes.persistent import PersistentScheme, finetune_persistent

    sel = np.isin(ds.y_train, [0, 1])
    binary = dataclasses.replace(ds, X_train=ds.X_train[sel], y_train=ds.y_train[sel], X_test=ds.X_test[np.isin(ds.y_test, [0, 1])],
                                 y_test=ds.y_test[np.isin(ds.y_test, [0, 1])])
    X, y = binary.X_train, (binary.y_train == 1).astype(int)
    out = {}
    for act in ("step", "sigmoid"):
        model, key = PersistentScheme(activation=act, temp=0.25, n_trigger=16).plant(binary, seed=seed)
        Xt = key.activate(model, X[y == 0])  # 16 top-row pixels (blank on natural digits) set to white
        asr = lambda: float(np.mean(model.predict_index(Xt) == 1))  # noqa: E731
        before = asr()
        info = finetune_persistent(model, np.concatenate([X, Xt]), np.concatenate([y, np.zeros(len(Xt), int)]), epochs=3, lr=0.5, seed=seed)
        out[act] = {"asr_before": before, "asr_after": asr(), **info}
    return out
