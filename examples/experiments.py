"""The main example: a grid of models mapped over cross-validation folds, best by mean AUC.

Run it with ``ledgerflow run examples/experiments.py:experiments -p folds=3`` or
``python -m ledgerflow.examples.experiments --folds 3``. It needs scikit-learn
(``pip install -e ".[examples]"``); the data set is bundled with it, so it runs offline.

The flow reads the breast-cancer data set and assigns each sample to a fold (a step
that fails on its first attempt, as a flaky network share would, and succeeds on its
retry), evaluates every model configuration on every fold (a static map: one task
per (configuration, fold), keyed ``evaluate[0]``, ``evaluate[1]``...), and returns the
configuration with the best mean ROC AUC. Task results are small JSON values; each
task reloads the bundled data itself instead of passing arrays between tasks.
"""

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

import ledgerflow as lf

# Model name -> the hyper-parameter grid it is evaluated on (one task per point and fold).
GRIDS: dict[str, list[dict[str, Any]]] = {
    "logreg": [{"C": c} for c in (0.01, 0.1, 1.0, 10.0)],
    "forest": [{"n_estimators": 100, "max_depth": depth} for depth in (4, 8, None)],
    "boosting": [{"learning_rate": rate, "max_depth": 2} for rate in (0.05, 0.2)],
}


def model_grid(models: str) -> list[dict[str, Any]]:
    """The configurations ``{"model", "params"}`` of the comma-separated model names."""
    names = [name.strip() for name in models.split(",") if name.strip()]
    unknown = [name for name in names if name not in GRIDS]
    if unknown or not names:
        reason = f"unknown models {unknown or models!r}; choose from {', '.join(GRIDS)}"
        raise lf.InvalidParameter("experiments", "models", reason)
    return [{"model": name, "params": params} for name in names for params in GRIDS[name]]


@lf.task(retries=2, retry_delay=0.5)
def assign_folds(folds: int, seed: int) -> dict[str, Any]:
    """Read the data set and give each sample a stratified fold; the first attempt fails."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold

    if lf.context().attempt == 1:
        # Deterministic stand-in for a flaky read: the engine records task.retrying
        # and runs the task again after retry_delay.
        raise ConnectionError("simulated flaky read of the data set (first attempt always fails)")
    features, labels = load_breast_cancer(return_X_y=True)
    fold_of = [0] * len(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, test_index) in enumerate(splitter.split(features, labels)):
        for sample in test_index:
            fold_of[int(sample)] = fold
    return {"samples": len(labels), "features": features.shape[1], "fold_of": fold_of}


def _estimator(model: str, params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, **params))
    if model == "forest":
        return RandomForestClassifier(random_state=seed, **params)
    if model == "boosting":
        return GradientBoostingClassifier(random_state=seed, **params)
    raise ValueError(f"unknown model {model!r}; choose from {', '.join(GRIDS)}")


@lf.task
def evaluate(config: dict[str, Any], fold: int, split: dict[str, Any], seed: int) -> dict[str, Any]:
    """Train one configuration on the other folds and return its ROC AUC on ``fold``."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import roc_auc_score

    features, labels = load_breast_cancer(return_X_y=True)
    is_test = np.asarray(split["fold_of"]) == fold
    estimator = _estimator(config["model"], config["params"], seed)
    estimator.fit(features[~is_test], labels[~is_test])
    scores = estimator.predict_proba(features[is_test])[:, 1]
    auc = float(roc_auc_score(labels[is_test], scores))
    return {"model": config["model"], "params": config["params"], "fold": fold, "auc": auc}


@lf.task
def pick_best(scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean AUC per configuration over its folds; the best one, with the ranking."""
    by_config: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for score in scores:
        by_config.setdefault((score["model"], repr(score["params"])), []).append(score)
    ranking = sorted(
        (
            {
                "model": group[0]["model"],
                "params": group[0]["params"],
                "mean_auc": statistics.fmean(s["auc"] for s in group),
                "std_auc": statistics.pstdev(s["auc"] for s in group),
                "folds": len(group),
            }
            for group in by_config.values()
        ),
        key=lambda row: -row["mean_auc"],
    )
    return {**ranking[0], "ranking": ranking}


@lf.flow(name="experiments")
def experiments(folds: int = 5, seed: int = 0, models: str = "logreg,forest,boosting") -> Any:
    """Cross-validate a grid of models on the breast-cancer data set; return the best."""
    configs = model_grid(models)
    split = assign_folds(folds, seed)
    pairs = [(config, fold) for config in configs for fold in range(folds)]
    scores = evaluate.map(
        [config for config, _ in pairs],
        [fold for _, fold in pairs],
        split=lf.unmapped(split),
        seed=lf.unmapped(seed),
    )
    return pick_best(scores)


def print_summary(run: lf.Run) -> None:
    """Print the run's state, its tasks by state, the retried step and the ranking."""
    counts: dict[str, int] = {}
    for task in run.tasks.values():
        counts[task.state.value] = counts.get(task.state.value, 0) + 1
    print(f"run {run.id}: {run.state.value}")
    print("tasks: " + ", ".join(f"{count} {state}" for state, count in sorted(counts.items())))
    print(f"assign_folds: {run.tasks['assign_folds'].attempts} attempts")
    if run.state != lf.RunState.SUCCEEDED:
        return
    best = run.result()
    for row in best["ranking"]:
        print(f"  {row['mean_auc']:.4f} ± {row['std_auc']:.4f}  {row['model']:<9} {row['params']}")
    print(f"best: {best['model']} {best['params']} mean AUC {best['mean_auc']:.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the flow on the default engine (``LEDGERFLOW_DATABASE_URL`` or SQLite in
    ``LEDGERFLOW_HOME``, threads) and print a summary; exit 0 if it succeeded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="logreg,forest,boosting")
    args = parser.parse_args(argv)
    with lf.Engine() as engine:
        run = engine.run(experiments, folds=args.folds, seed=args.seed, models=args.models)
        print_summary(run)
        return 0 if run.state == lf.RunState.SUCCEEDED else 1


if __name__ == "__main__":
    raise SystemExit(main())
