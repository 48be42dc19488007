"""The Fashion-MNIST results of docs/results.md: ``python -m reproduction`` (``make results``),
which drives ``mintnet-train`` with the experiment configs in ``conf/experiment/fashion_mnist/``.
Not part of the installed package. Its command line is :mod:`reproduction.command`; the runs are
named in :mod:`reproduction.profiles`, trained by :mod:`reproduction.training`, recorded by
:mod:`reproduction.records` and :mod:`reproduction.analysis`; the page and its plots are written
from the records alone by :mod:`reproduction.page` (:mod:`reproduction.metrics`,
:mod:`reproduction.plots`).
"""
