"""``ckpt_path``: ``auto`` continues the run folder's own ``last.ckpt``, ``null``/``never`` start
afresh, an explicit file must exist; through the real command-line parser as well."""

import pytest
from hydra import compose, initialize_config_dir

from mintnet.checkpoint import CheckpointError, resume_checkpoint
from tests.conftest import CONF_DIR


def test_auto_is_the_folders_last_checkpoint_when_there_is_one(tmp_path):
    assert resume_checkpoint("auto", tmp_path) is None
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"")
    assert resume_checkpoint("auto", tmp_path) == str(last)
    other = tmp_path / "other"
    assert resume_checkpoint("auto", other) is None  # never another folder's file


@pytest.mark.parametrize("value", [None, "", "never"])
def test_no_resume(tmp_path, value):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert resume_checkpoint(value, tmp_path) is None


def test_an_explicit_file_must_exist(tmp_path):
    ckpt = tmp_path / "a.ckpt"
    with pytest.raises(
        CheckpointError, match=r"ckpt_path=.*a\.ckpt: no such file.*ckpt_path=auto"
    ):
        resume_checkpoint(ckpt, tmp_path)
    ckpt.write_bytes(b"")
    assert resume_checkpoint(str(ckpt), tmp_path) == str(ckpt)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ([], "auto"),
        (["ckpt_path=auto"], "auto"),
        (["ckpt_path=null"], None),
        (["ckpt_path=never"], "never"),
    ],
)
def test_the_spellings_parse_on_the_command_line(override, expected):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(config_name="train", overrides=override)
    assert cfg.ckpt_path == expected
