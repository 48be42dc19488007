"""The inversion parts of the results page: Figure 4's table, the solver that decoded the samples
and Figure 5, and the worst residual of an inversion in words."""

import csv
from pathlib import Path
from typing import Any

__all__ = ["figure4_context", "residual", "solver_context"]


def solver_context(solver: dict[str, Any]) -> dict[str, Any]:
    """How the samples and Figure 5 were inverted: in words, and as the CLIs' options."""
    method, alpha, memory = solver["method"], solver["alpha"], solver["anderson_memory"]
    words = f"`method={method}`, alpha = {alpha:.4g}"
    args = f"--method {method} --alpha {alpha:.6g}"
    if method == "anderson":
        words, args = f"{words}, memory {memory}", f"{args} --anderson-memory {memory}"
    return {"words": words, "args": args, "memory": memory}


def figure4_context(csv_path: Path) -> dict[str, Any]:
    """Figure 4's table (mean and largest error at each T for each solver and alpha) and its last
    row; a CSV without a ``method`` column holds the fixed-point iteration only."""
    with csv_path.open(newline="") as file:
        rows = [
            {k: v if k == "method" else float(v) for k, v in row.items()}
            for row in csv.DictReader(file)
        ]
    key = {id(r): (r.get("method", "fixed_point"), r["alpha"]) for r in rows}
    curves = list(dict.fromkeys(key[id(r)] for r in rows))  # as run: the paper's first
    iterations = sorted({int(r["iterations"]) for r in rows})
    cell = {(*key[id(r)], int(r["iterations"])): r for r in rows}
    at = {c: cell[(*c, iterations[-1])] for c in curves if (*c, iterations[-1]) in cell}
    paper = at[curves[0]]
    return {
        "alpha_headers": [f"{_curve_label(*c)}: mean (largest)" for c in curves],
        "alpha_args": list(dict.fromkeys(f"{a:.6g}" for _, a in curves)),
        "methods": list(dict.fromkeys(m for m, _ in curves)),
        "iterations": iterations,
        "last": iterations[-1],
        "rows": [
            [t]
            + [
                f"{cell[(*c, t)]['geo_mean_error']:.2g} ({cell[(*c, t)]['max_error']:.2g})"
                if (*c, t) in cell
                else ""
                for c in curves
            ]
            for t in iterations
        ],
        "paper": {"alpha": curves[0][1], "max_error": paper["max_error"]},
        "others": [
            {
                "label": _curve_label(*c),
                "geo_mean_error": r["geo_mean_error"],
                "max_error": r["max_error"],
                "faster": r["geo_mean_error"] < paper["geo_mean_error"],
                "stuck": r["max_error"] > 10 * paper["max_error"],
            }
            for c, r in at.items()
            if c != curves[0]
        ],
    }


def _curve_label(method: str, alpha: float) -> str:
    return f"alpha = {alpha:.4g}" if method == "fixed_point" else f"{method}, alpha = {alpha:.4g}"


def residual(stats: dict[str, Any]) -> str:
    """The worst residual ``max |f(x) - z|`` of an inversion against its tolerance."""
    worst, tol = stats["worst_residual"], stats["tol"]
    where = "below tol" if stats["converged"] else f"{worst / tol:.3g} x tol"
    failing = stats.get("unconverged") or []
    if failing:
        samples = sorted({i for _, ids in failing for i in ids})
        shown = ", ".join(map(str, samples[:8])) + (", ..." if len(samples) > 8 else "")
        layers = ", ".join(name for name, _ in failing)
        where += f"; samples {shown} in {layers}"
    return f"{worst:.2g} ({where})"
