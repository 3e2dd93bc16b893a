"""Precision, recall, F-score, PR and ROC curves of a classifier on imbalanced data.

When one class is rare, accuracy flatters: always answering "not it" is right
90% of the time if 10% of the examples are "it". The textbook's chapter on
training models recommends precision (of the examples called positive, the
fraction that are), recall (of the positives, the fraction found), their
harmonic mean the F-score 2pr / (p + r), and two curves traced by moving the
decision threshold over the model's scores: precision against recall (PR),
and the true positive rate against the false positive rate (ROC), whose area
(AUC) is the probability that a random positive scores above a random
negative. (The book's text puts the two ROC rates on the other axes; the
figure here uses the usual convention, false positive rate along x.)

The data is one Fashion-MNIST class against the nine others (10% positives;
--positive picks the class, Shirt by default, the hardest to tell apart), or
with --data synthetic, two overlapping Gaussian clouds with 5% positives. A
small network (Dense 64 relu, one sigmoid unit) is trained on the training
split, and every number is computed on the test split with adkit.nn.metrics.

    python examples/classification_metrics.py
    python examples/classification_metrics.py --positive 0 --limit 20000 --epochs 5
    python examples/classification_metrics.py --data synthetic --out runs/metrics
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from adkit.nn import Sequential, metrics
from adkit.nn.datasets import fashion_mnist
from adkit.nn.layers import Dense, Flatten


def make_imbalanced(n_samples: int, n_features: int = 20, positive_fraction: float = 0.05,
                    separation: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Negatives from N(0, I), positives from N(mu, I) with |mu| = separation, a
    fraction `positive_fraction` of them. Returns x (n_samples, n_features) and 0/1 labels.

    >>> x, y = make_imbalanced(1000, positive_fraction=0.1)
    >>> x.shape, int(y.sum())
    ((1000, 20), 100)
    """
    if not 0.0 < positive_fraction < 1.0:
        raise ValueError(f"positive_fraction must be in (0, 1), got {positive_fraction}")
    rng = np.random.default_rng(seed)
    n_pos = max(1, round(n_samples * positive_fraction))
    y = np.zeros(n_samples, dtype=np.int64)
    y[rng.permutation(n_samples)[:n_pos]] = 1
    mu = np.full(n_features, separation / np.sqrt(n_features))
    x = rng.standard_normal((n_samples, n_features)) + y[:, None] * mu
    return x.astype(np.float32), y


def load_split(args: argparse.Namespace) -> tuple[tuple, tuple, str]:
    """((x, y), (x_test, y_test), description) with 0/1 labels, per --data."""
    if args.data == "synthetic":
        n = args.limit or 10000
        x, y = make_imbalanced(2 * n, seed=args.seed)
        return (x[:n], y[:n]), (x[n:], y[n:]), "two Gaussian clouds, 5% positives"
    (x, labels), (xt, labels_t) = fashion_mnist.load_data()
    if args.limit is not None:
        n = args.limit
        x, labels, xt, labels_t = x[:n], labels[:n], xt[:n], labels_t[:n]
    scale = np.float32(1 / 255)
    name = fashion_mnist.class_names[args.positive]
    return ((x * scale, (labels == args.positive).astype(np.int64)),
            (xt * scale, (labels_t == args.positive).astype(np.int64)),
            f"Fashion-MNIST, {name!r} against the other nine classes")


def classifier(input_shape: tuple, seed: int = 0) -> Sequential:
    """Flatten, Dense 64 relu, one sigmoid unit; adam on binary cross-entropy."""
    net = Sequential([Flatten(input_shape=input_shape), Dense(64, activation="relu"),
                      Dense(1, activation="sigmoid")], name="one_vs_rest", seed=seed)
    net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return net


def scores_report(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Every metric of the example from labels and scores, with adkit.nn.metrics; prints them.

    Returns precision, recall, f1 (and f_formula = 2pr / (p + r)) at `threshold`,
    the confusion matrix, the PR curve with its average precision and the
    threshold of the best F-score on it, the ROC curve and its AUC.
    """
    predicted = (scores > threshold).astype(np.int64)
    cm = metrics.confusion_matrix(y_true, predicted, num_classes=2)
    p = metrics.precision(y_true, scores, threshold=threshold)
    r = metrics.recall(y_true, scores, threshold=threshold)
    f1 = metrics.f1_score(y_true, scores, threshold=threshold)
    f_formula = 2 * p * r / (p + r) if p + r else 0.0
    accuracy = metrics.binary_accuracy(y_true, scores, threshold=threshold)
    prevalence = float(np.mean(y_true))
    print(f"  positives: {int(y_true.sum())} of {len(y_true)} ({prevalence:.1%}); always "
          f"answering 'negative' would score accuracy {1 - prevalence:.3f}")
    print(f"  at threshold {threshold}: accuracy {accuracy:.3f}")
    print("  confusion matrix (rows true, columns predicted; 0 = negative, 1 = positive):")
    print(f"      TN {cm[0, 0]:6d}   FP {cm[0, 1]:6d}\n      FN {cm[1, 0]:6d}   TP {cm[1, 1]:6d}")
    print(f"  precision TP/(TP+FP) {p:.4f}   recall TP/(TP+FN) {r:.4f}")
    print(f"  F-score 2pr/(p+r) {f_formula:.4f}   (adkit.nn.metrics.f1_score {f1:.4f})")

    pr_p, pr_r, pr_t = metrics.precision_recall_curve(y_true, scores)
    ap = metrics.average_precision_score(y_true, scores)
    f_curve = np.divide(2 * pr_p * pr_r, pr_p + pr_r, out=np.zeros_like(pr_p),
                        where=(pr_p + pr_r) > 0)[:-1]   # the last point has no threshold
    best = int(np.argmax(f_curve))
    print(f"  PR curve: {len(pr_t)} thresholds, average precision {ap:.4f}; best F-score "
          f"{f_curve[best]:.4f} at threshold {pr_t[best]:.3f} "
          f"(precision {pr_p[best]:.4f}, recall {pr_r[best]:.4f})")
    fpr, tpr, roc_t = metrics.roc_curve(y_true, scores)
    auc = metrics.roc_auc_score(y_true, scores)
    print(f"  ROC curve: {len(fpr)} points, AUC {auc:.4f} (0.5 is chance)")
    return {"threshold": threshold, "confusion_matrix": cm, "accuracy": accuracy,
            "precision": p, "recall": r, "f1": f1, "f_formula": f_formula,
            "prevalence": prevalence, "pr_curve": (pr_p, pr_r, pr_t),
            "average_precision": ap, "best_f1": float(f_curve[best]),
            "best_threshold": float(pr_t[best]), "best_index": best,
            "roc_curve": (fpr, tpr, roc_t), "auc": auc}


def _plots(out: str, report: dict, title: str) -> dict[str, str]:
    """pr_curve.png and roc_curve.png under `out`; {} without matplotlib."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    paths = {"pr": os.path.join(out, "pr_curve.png"), "roc": os.path.join(out, "roc_curve.png")}
    p, r = report["precision"], report["recall"]
    op_label = f"threshold {report['threshold']}"

    pr_p, pr_r, _ = report["pr_curve"]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.step(pr_r, pr_p, where="post", label=f"classifier (AP {report['average_precision']:.3f})")
    ax.axhline(report["prevalence"], color="gray", ls="--",
               label=f"random guess (precision {report['prevalence']:.2f})")
    ax.plot(r, p, "ko", label=f"{op_label}: F {report['f1']:.3f}")
    best = report["best_index"]
    ax.plot(pr_r[best], pr_p[best], "r*", ms=12,
            label=f"best F {report['best_f1']:.3f} at threshold {report['best_threshold']:.2f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"PR curve: {title}", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(paths["pr"], dpi=100)
    plt.close(fig)

    fpr, tpr, _ = report["roc_curve"]
    cm = report["confusion_matrix"]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(fpr, tpr, label=f"classifier (AUC {report['auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="gray", ls="--", label="random guess (AUC 0.5)")
    ax.plot(cm[0, 1] / cm[0].sum(), r, "ko", label=op_label)
    ax.set_xlabel("false positive rate FP / (FP + TN)")
    ax.set_ylabel("true positive rate (recall) TP / (TP + FN)")
    ax.set_title(f"ROC curve: {title}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(paths["roc"], dpi=100)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> dict:
    """Train the classifier, print its metrics on the test split, save the two curves."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("fashion", "synthetic"), default="fashion",
                        help="Fashion-MNIST one class vs the rest, or synthetic Gaussian clouds")
    parser.add_argument("--positive", type=int, default=6,
                        help="the Fashion-MNIST class that is positive, 0..9 (default 6, Shirt)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use the first N training and N test examples (synthetic: N each, "
                             "default 10000)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="decision threshold on the predicted probability")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    parser.add_argument("--out", default="runs/examples/classification_metrics",
                        help="folder for the PNGs")
    args = parser.parse_args(argv)
    if not 0 <= args.positive <= 9:
        parser.error(f"--positive must be a Fashion-MNIST class 0..9, got {args.positive}")
    if args.limit is not None and args.limit <= 0 or args.epochs <= 0:
        parser.error("--limit and --epochs must be positive")
    if not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must be in (0, 1), got {args.threshold}")

    try:
        import matplotlib
        matplotlib.use("Agg")  # draw to files; no display needed
    except ImportError:
        pass
    os.makedirs(args.out, exist_ok=True)
    (x, y), (xt, yt), title = load_split(args)
    if yt.min() == yt.max():
        raise ValueError(f"the test split of {len(yt)} examples holds only one class; "
                         "raise --limit so both classes appear")
    print(f"{title}: {len(x)} training and {len(xt)} test examples")
    net = classifier(x.shape[1:], seed=args.seed)
    net.fit(x, y[:, None], epochs=args.epochs, batch_size=64, verbose=2)
    scores = net.predict(xt, batch_size=512)[:, 0].astype(np.float64)
    print("test split:")
    report = scores_report(yt, scores, args.threshold)
    pngs = _plots(args.out, report, title)
    for path in pngs.values():
        print(f"saved {path}")
    if not pngs:
        print("matplotlib is not installed, so no figures were drawn")
    return {"y_true": yt, "scores": scores, **report, "pngs": pngs}


if __name__ == "__main__":
    main()
