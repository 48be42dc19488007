"""The Fashion-MNIST results of docs/results.md, reproducible with one command from the repository:
``python -m reproduction`` (``make results``). Not part of the installed package: it drives the
``mintnet`` library and its command lines.

* :mod:`reproduction.command`: the command line;
* :mod:`reproduction.profiles`: the full and the quick sizes, from which every recipe is derived;
* :mod:`reproduction.pipeline`: the steps and the recipes of every run;
* :mod:`reproduction.classification`: the classification runs (seeds, longer budget, ablations);
* :mod:`reproduction.runs`: training runs, skipped when finished, resumed when not;
* :mod:`reproduction.processes`: their subprocesses, up to ``--jobs`` at a time, and the signals
  that stop them;
* :mod:`reproduction.analysis`: samples, Figure 4 and Figure 5 of the trained flow;
* :mod:`reproduction.summary`: a run's numbers, read from its CSV log;
* :mod:`reproduction.budget`: the pipeline's time, read from the runs' folders;
* :mod:`reproduction.plots`: the plots and image panels;
* :mod:`reproduction.page`: the page's numbers, read from the runs and tabulated;
* :mod:`reproduction.classification_page`: the classification section's tables and comparison;
* :mod:`reproduction.inversion_page`: Figure 4's table, the samples' solver, residuals in words;
* :mod:`reproduction.report`: the figures, and the page from its template
  (``reproduction/templates/results.md.j2``).
"""
