"""The command lines, on top of the library: each console script is one module here.

| console script | module | the paper |
|---|---|---|
| `mintnet-train` | `mintnet.train` (Hydra) | |
| `mintnet-eval` | `mintnet.eval` (Hydra) | |
| `mintnet-sample` | `mintnet.cli.sample` | Figure 3 |
| `mintnet-inversion-accuracy` | `mintnet.cli.inversion_accuracy` | Figure 4 |
| `mintnet-interpolate` | `mintnet.cli.interpolate` | Figure 5 |
| `mintnet-reconstruct` | `mintnet.cli.reconstruct` | |
| `mintnet-import-official` | `mintnet.cli.import_official` | |
| `mintnet-sync` | `mintnet.cli.sync` | |

`python -m mintnet.cli {sample,inversion-accuracy,interpolate,reconstruct} ...` runs these
commands without the console scripts. A `mintnet.errors.MintNetError` becomes one line on stderr and exit
status 1 (`mintnet.cli.reporting.reported_errors`).
"""
