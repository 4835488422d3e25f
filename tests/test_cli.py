"""`pawprint`: the pipeline's commands and the tools beside it, each with its own options."""

import pytest

from pawprint import cli


def test_every_tool_is_a_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("report", "predict", "bench", "seeds", "precision"))


def test_a_tool_parses_its_own_options(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench"])  # its data folder is an argument, never a path beside the checkout
    assert exc.value.code == 2 and "--data" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["seeds", "--help"])
    assert exc.value.code == 0 and "--compare" in capsys.readouterr().out


def test_an_unknown_option_of_a_pipeline_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", "--no-such-option"])
    assert exc.value.code == 2 and "--no-such-option" in capsys.readouterr().err
