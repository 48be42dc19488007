import subprocess
import sys


def test_backbone_imports_no_training_framework():
    code = (
        "import sys, mintnet.nn; "
        "bad = [m for m in ('lightning', 'pytorch_lightning', 'hydra', 'omegaconf', 'wandb') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
