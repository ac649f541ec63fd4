"""The CLI's edges: version, help, unknown commands, and a light startup."""

import subprocess
import sys

from conftest import cli_env


def test_version(mlci):
    from mlci import __version__

    r = mlci("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"mlci {__version__}"


def test_help_lists_every_contract_command(mlci):
    r = mlci("--help")
    assert r.returncode == 0
    for name in ["run", "validate", "train", "evaluate", "publish", "image", "promote", "rollback",
                 "registry", "report", "serve", "schema", "fetch", "doctor", "sweep", "monitor",
                 "jenkins", "check", "deploy", "gc", "reproduce"]:
        assert f"\n  {name} " in r.stdout, name


def test_unknown_command_suggests_the_close_one(mlci):
    r = mlci("trian")
    assert r.returncode == 2
    assert "unknown command `trian`" in r.stderr
    assert "did you mean `train`" in r.stderr


def test_help_and_version_import_no_heavy_library():
    code = ("import sys, contextlib, io\n"
            "from mlci.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main(['--help'])\n"
            "    main(['train', '--help']) if False else None\n"
            "heavy = [m for m in ('pandas', 'sklearn', 'numpy', 'pydantic', 'boto3', 'docker', 'rich', 'matplotlib')"
            " if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_a_command_leaves_its_objects_to_the_os_at_exit(tmp_path):
    """After a command, the CLI freezes what the garbage collector tracks, so the interpreter's exit
    does not free it object by object (about 0.1 s of CPU for an S3 command: botocore's model)."""
    code = ("import gc\nfrom mlci.cli import main\n"
            f"code = main(['registry', 'list', '--store', {str(tmp_path / 'store')!r}])\n"
            "print(code, gc.get_freeze_count() > 1000)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["0", "True"]


def test_command_help_shows_common_options(mlci):
    r = mlci("train", "--help")
    assert r.returncode == 0
    assert "--config" in r.stdout and "--json" in r.stdout and "--force" in r.stdout


def test_bad_option_is_a_usage_error(mlci):
    r = mlci("train", "--no-such-option")
    assert r.returncode == 2
    assert "unrecognized arguments" in r.stderr


def test_quiet_prints_nothing_on_success_and_still_the_error_line(tmp_path, mlci):
    from projects import classification_project

    classification_project(tmp_path)
    for words in (["train"], ["evaluate"], ["publish"], ["report"], ["validate"]):
        r = mlci(*words, "-q", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "" and r.stderr == "", (words, r.stderr)
    r = mlci("promote", "bc", "7", "--to", "production", "-q", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("mlci promote: error: ") and len(r.stderr.splitlines()) == 1
