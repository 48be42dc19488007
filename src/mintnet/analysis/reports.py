"""One-paragraph summaries of the per-layer reports that an inversion returns."""

from collections.abc import Sequence

from mintnet.nn.inverse import InversionReport

__all__ = ["summarize_reports"]


def summarize_reports(reports: Sequence[InversionReport]) -> str:
    """Summarise a whole-network inversion: Mint layers inverted, the most iterations any layer took,
    the total evaluations of ``f`` per sample (summed over layers), and the worst residual
    ``max |f(x) - z|`` with the layer it came from.

    Example: ``"4 Mint layers: at most 12 iterations per layer, 40.0 evaluations per sample in
    total; worst residual 3.1e-06 in layer 1.upper (tol 1e-05); all converged"``.
    """
    if not reports:
        return "no iterative inversion was run (0 Mint layers)"
    worst = max(reports, key=lambda r: r.max_residual)
    failed = [r.name for r in reports if not r.converged]
    state = (
        "all converged" if not failed else f"NOT converged in {len(failed)}: {', '.join(failed)}"
    )
    return (
        f"{len(reports)} Mint layers: at most {max(r.iterations for r in reports)} iterations per "
        f"layer, {sum(r.evaluations for r in reports):.1f} evaluations per sample in total; worst "
        f"residual {worst.max_residual:.3g} in layer {worst.name or '?'} (tol {worst.tol:.3g}); "
        f"{state}"
    )
