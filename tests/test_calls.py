"""Messages name what the caller types: a flag on the command line, a Python argument from Python."""

from pyronas.calls import argument, from_cli
from pyronas.infer.rundir import interrupted


def test_arguments_are_flags_under_the_cli_and_keywords_from_python():
    assert (argument("resume", True), argument("drop_path", 0), argument("space")) == ("resume=True", "drop_path=0",
                                                                                       "space")  # fmt: skip
    with from_cli():
        assert (argument("resume", True), argument("drop_path", 0), argument("out_dir", flag="--out")) == (
            "--resume", "--drop-path 0", "--out")  # fmt: skip
    assert argument("resume", True) == "resume=True"  # the context is left as it was


def test_the_interrupt_message_names_resume_as_the_caller_types_it(tmp_path):
    assert str(interrupted("search", 2, tmp_path)).endswith("(continue with resume=True)")
    with from_cli():
        training, search = str(interrupted("training", 1, tmp_path)), str(interrupted("search", 1, "my runs/a"))
    assert training.endswith(f"(continue with pyronas train --out {tmp_path} --resume)")
    assert search.endswith("(continue with pyronas search --out 'my runs/a' --resume)")  # the whole command


def test_a_refused_run_folder_names_the_arguments_the_caller_types(tmp_path):
    import pytest

    from pyronas.infer.claim import RunFolderError, claim

    (tmp_path / "log.jsonl").write_text("{}\n")
    with pytest.raises(RunFolderError, match=r"pass resume=True to continue it, overwrite=True .* fresh out_dir"):
        with claim(tmp_path, "training", resume=False, overwrite=False):
            pass
    with from_cli(), pytest.raises(RunFolderError, match=r"pass --resume to continue it, --overwrite .* fresh --out"):
        with claim(tmp_path, "training", resume=False, overwrite=False):
            pass
