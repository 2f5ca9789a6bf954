"""The arena: undetectability is a claim about *populations* of models.

One detector score on one model proves nothing. The arena builds N honest models (Train) and N
backdoored models (Backdoor), each with fresh seeds and keys, runs every applicable detector on each,
and reports how well the scores separate the two populations.

=========== ===================================================================================
catalogue   populations: per-scheme parameters, ``build_model`` (via ``Scheme`` objects), null keys
executor    pure work units (``evaluate_unit``, ``shadow_unit``) run sequentially, by joblib or Dask
metrics     ROC-AUC + bootstrap CI, TrojAI cross-entropy, TPR at 5% FPR
run         ``run_arena``: shadows → meta-classifiers → populations → summary → arena.json
figure      the ROC figure
=========== ===================================================================================
"""
from .catalogue import (SCHEMES, ROLE_CODES, build_model, construction_params, dataset, model_seed, null_key, population,
                        scheme_params, subset)
from .executor import evaluate_unit, run_units, shadow_unit
from .metrics import (auc_bootstrap_ci, detector_summary, platt_probabilities, roc_auc, roc_curve_points, tpr_at_fpr,
                      trojai_cross_entropy)
from .run import arena_detectors, run_arena

_dataset = dataset  # the name older callers use

__all__ = ["SCHEMES", "ROLE_CODES", "arena_detectors", "auc_bootstrap_ci", "build_model", "construction_params", "dataset",
           "detector_summary", "evaluate_unit", "model_seed", "null_key", "platt_probabilities", "population", "roc_auc",
           "roc_curve_points", "run_arena", "run_units", "scheme_params", "shadow_unit", "subset", "tpr_at_fpr",
           "trojai_cross_entropy"]
