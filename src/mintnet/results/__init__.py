"""The Fashion-MNIST results, reproducible with one command: ``python -m mintnet.results``
(``make results``), see :mod:`mintnet.results.pipeline`.

* :mod:`mintnet.results.pipeline`: the steps, the recipes of every run, the command line;
* :mod:`mintnet.results.runs`: training subprocesses, skipped when finished, resumed when not;
* :mod:`mintnet.results.timing`: the callback that logs wall-clock time into the runs' CSV logs;
* :mod:`mintnet.results.analysis`: samples, Figure 4 and Figure 5 of the trained flow;
* :mod:`mintnet.results.report`: plots, tables and the document, from the runs' files.
"""
