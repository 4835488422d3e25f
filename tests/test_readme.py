"""The README is a user's guide whose numbers come from the committed runs: its demo block is exactly the head
of `reports/summary.md` (the comparison table and the verdict lines) and its seeds block the table and
verdict of `reports/seeds.md` (`make seeds`), so they can never disagree."""

import re

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text()


def summary_head() -> str:
    """reports/summary.md from its first table to the per-class section."""
    text = (ROOT / "reports" / "summary.md").read_text()
    return text[text.index("| method |") : text.index("## Per class")].strip()


def test_the_demo_table_is_the_committed_run():
    block = re.search(r"<!-- demo:start[^>]*-->\n(.*?)<!-- demo:end -->", README, re.S)
    assert block, "README.md lost its demo markers"
    assert block[1].strip() == summary_head(), "README demo block differs from reports/summary.md: copy it over"


def test_the_seeds_table_is_the_committed_one():
    block = re.search(r"<!-- seeds:start[^>]*-->\n(.*?)<!-- seeds:end -->", README, re.S)
    assert block, "README.md lost its seeds markers"
    seeds = (ROOT / "reports" / "seeds.md").read_text().splitlines()
    table_and_verdict = [line for line in seeds if line.startswith(("|", "- "))]
    shown = [line for line in block[1].splitlines() if line.strip()]
    assert shown == table_and_verdict, "README seeds block differs from reports/seeds.md: copy it over"


def test_the_readme_opens_with_the_two_commands_and_stays_a_guide():
    assert README.splitlines()[3:5] == [
        "make repro    # creates .venv if missing, installs the pinned runtime, runs `dvc repro` on the embedded data",
        "make test     # adds the test tools, runs the suite (real DVC and MLflow on tiny data in temporary folders)",
    ]
    assert len(README.splitlines()) <= 300
    assert "../shared" not in README
    for link in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / link).is_file(), link
