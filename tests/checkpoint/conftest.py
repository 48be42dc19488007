"""A briefly trained tiny flow and its checkpoint in the plain format, for the checkpoint tests:
the analysis tests' fixtures, shared."""

from tests.analysis.conftest import _one_thread, flow_ckpt, trained_flow

__all__ = ["_one_thread", "flow_ckpt", "trained_flow"]
