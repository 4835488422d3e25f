"""What the runtime install must hold beyond importable packages."""


def test_dvc_reads_its_yaml_files_with_the_c_parser():
    """ruamel.yaml made its C parser an extra (requirements.txt pins it): without it every `dvc` command,
    a no-op `dvc repro` included, parses dvc.yaml, dvc.lock and params.yaml in pure Python."""
    from ruamel.yaml import YAML
    from ruamel.yaml.parser import Parser

    parser = YAML(typ="safe").Parser
    assert parser is not Parser and parser.__name__ == "CParser"
