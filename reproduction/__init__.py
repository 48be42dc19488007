"""The Fashion-MNIST results of docs/results.md: ``python -m reproduction`` (``make results``).
Not part of the installed package: it drives ``mintnet-train`` with the experiment configs in
``conf/experiment/fashion_mnist/``.

* :mod:`reproduction.command`: the command line;
* :mod:`reproduction.profiles`: the runs by name, full and quick;
* :mod:`reproduction.training`: which runs to train, and each step as one ``-m`` sweep;
* :mod:`reproduction.records`: the committed records of finished runs (``records/``);
* :mod:`reproduction.analysis`: samples, Figure 4 and Figure 5 of the trained flow, recorded;
* :mod:`reproduction.metrics`, :mod:`reproduction.page`, :mod:`reproduction.plots`: the page and
  its plots, from the records alone.
"""
