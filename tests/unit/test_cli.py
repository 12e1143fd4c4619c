from rig.cli import build_parser


def test_cli_requires_a_command(capsys) -> None:
    parser = build_parser()
    try:
        parser.parse_args([])
    except SystemExit as exc:
        assert exc.code == 2
    assert "COMMAND" in capsys.readouterr().err
