"""The docs run as written (issue 25).

Every Markdown file the project ships (README.md, docs/**/*.md) is read as a user would read it:

- every ```groovy block, every inline `mlciStep(...)` span, Jenkinsfile.example and
  docs/examples/Jenkinsfile* are parsed by Groovy's own parser (one `groovy` process for all of them),
  and each `mlci*` call is checked against the step's arguments as vars/<step>.groovy declares them
  (its `Defaults.merge(this, '<step>', [defaults...], args)` map: names, and the type of each default
  that is not null) and its `Defaults.require(...)` calls;
- every ```yaml block whose top-level keys are mlci.yaml's is validated with `mlci.config.parse`
  (over a minimal config, so a section may be shown alone);
- every `mlci` command in a shell block (```bash, ```sh, ```shell, ```console: `$ ` lines) is parsed
  by the CLI's own argument parser, and runs, in the order of the docs, in a copy of
  examples/breast-cancer, unless its block is marked illustrative;
- every relative link and every repository path named in inline code resolves.

Markers (an HTML comment, invisible on the rendered page, on the line just before a fence):
  <!-- docs-test: illustrative -->   the block's commands need what the examples do not have (a Docker
                                     host, S3, Jenkins, versions that do not exist yet): parsed, not run
  <!-- docs-test: other-file -->     a YAML block that is not mlci.yaml (a rules file, a grid, ...)
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, cli_env, missing_part

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
JENKINSFILES = [REPO / "Jenkinsfile.example", *sorted((REPO / "docs" / "examples").glob("Jenkinsfile*"))]
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*([\w.-]+)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
SHELL_LANGS = {"bash", "sh", "shell", "console"}
STEP_CALL = re.compile(r"^mlci[A-Z]\w*\(.*\)$", re.S)


@dataclass
class Block:
    path: Path
    line: int  # of the first line inside the fence
    lang: str
    text: str
    marks: set[str] = field(default_factory=set)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    found, lines, i = [], path.read_text().split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, j = len(m.group(1)), i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        marks = set()
        k = i - 1
        while k >= 0 and MARKER.match(lines[k]):
            marks.add(MARKER.match(lines[k]).group(1))
            k -= 1
        text = "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1:j])
        found.append(Block(path, i + 2, m.group(2), text, marks))
        i = j + 1
    return found


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced blocks."""
    out, inside = [], False
    for n, line in enumerate(path.read_text().split("\n"), 1):
        if FENCE.match(line) or (inside and line.strip().startswith("```")):
            inside = not inside
            continue
        if not inside:
            out.append((n, line))
    return out


def inline_code(path: Path) -> list[tuple[int, str]]:
    spans = []
    for n, line in prose(path):
        spans += [(n, s) for s in re.findall(r"`([^`]+)`", line)]
    return spans


# ---------------------------------------------------------------------------------------- Groovy

PARTIAL: set[str] = set()  # inline spans with `...`: other arguments elided, so none is missing


def _elide(span: str) -> str:
    """`mlciX(..., a: 1)`, `mlciX(a: 1, ...)`, `mlciX(...)`, `[...]`, `a: ...`: "more here" in prose."""
    span = span.replace("[...]", "[:]").replace("(...)", "()").replace("(..., ", "(").replace(", ...", "")
    return re.sub(r":\s*\.\.\.", ": null", span)


def _groovy_snippets() -> dict[str, str]:
    snippets = {}
    for doc in DOCS:
        for b in blocks(doc):
            if b.lang == "groovy":
                snippets[b.where] = b.text
        for n, span in inline_code(doc):
            if STEP_CALL.match(span):
                where = f"{doc.relative_to(REPO)}:{n}: `{span}`"
                snippets[where] = _elide(span)
                if "..." in span:
                    PARTIAL.add(where)
    for f in JENKINSFILES:
        snippets[str(f.relative_to(REPO))] = f.read_text()
    return snippets


@pytest.fixture(scope="module")
def groovy_parse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    groovy = shutil.which("groovy")
    if groovy is None:
        missing_part("groovy", "Debian's groovy package; tests/setup.sh installs it")
    tmp = tmp_path_factory.mktemp("docs-groovy")
    (tmp / "snippets.json").write_text(json.dumps(_groovy_snippets()))
    env = dict(os.environ)
    java = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    if "JAVA_HOME" not in env and java.is_dir():
        env["JAVA_HOME"] = str(java)
    steps = sorted(str(p) for p in (REPO / "vars").glob("mlci*.groovy"))
    proc = subprocess.run([groovy, str(Path(__file__).with_name("docs_groovy.groovy")), str(tmp / "snippets.json"), *steps],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def step_call_problems(call: dict[str, Any], steps: dict[str, Any], partial: bool = False) -> list[str]:
    step = call["step"]
    if step not in steps:
        return [f"{step}: no such step (no vars/{step}.groovy with Defaults.merge)"]
    declared, given = steps[step]["defaults"], call["args"]
    problems = []
    unknown = [a for a in given if a not in declared]
    if unknown:
        problems.append(f"{step}: unknown argument(s) {', '.join(unknown)}; it takes: {', '.join(declared)}")
    for name, kind in given.items():
        want = declared.get(name)
        if want and kind and kind != want:
            problems.append(f"{step}: `{name}` is a {want} (its default), the docs give a {kind}")
    if not (call["opaque"] or partial):
        for req in steps[step]["required"]:
            if req["when"] is not None and call["flags"].get(req["when"], True) is False:
                continue
            missing = [n for n in req["names"] if n not in given and declared.get(n) is None]
            if missing:
                why = f" (when {req['when']}, the default)" if req["when"] and req["when"] not in given else ""
                problems.append(f"{step}: missing required argument(s) {', '.join(missing)}{why}")
    return problems


def test_every_groovy_snippet_parses_and_each_step_call_takes_its_arguments(groovy_parse: dict[str, Any]) -> None:
    steps = groovy_parse["steps"]
    assert {"mlciPipeline", "mlciTrain", "mlciDeploy", "mlciSetup"} <= set(steps)
    problems, calls = [], 0
    for where, result in groovy_parse["snippets"].items():
        if result["error"]:
            problems.append(f"{where}: does not parse: {result['error']}")
        for call in result["calls"]:
            calls += 1
            problems += [f"{where} (line {call['line']}): {p}" for p in step_call_problems(call, steps, where in PARTIAL)]
    assert calls > 20
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------ YAML

BASE_CONFIG = {"name": "docs", "task": "classification", "data": {"train": "data/train.csv", "target": "y"}}


def _merged(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in over.items()}}
    return over


def _config_keys() -> set[str]:
    from mlci.config import Config

    return {f.alias or name for name, f in Config.model_fields.items()}


def test_every_mlci_yaml_snippet_validates() -> None:
    from mlci.config import parse
    from mlci.errors import MlciError

    keys, problems, checked = _config_keys(), [], 0
    for doc in DOCS:
        for b in blocks(doc):
            if b.lang not in ("yaml", "yml") or "other-file" in b.marks:
                continue
            try:
                data = yaml.safe_load(b.text)
            except yaml.YAMLError as exc:
                problems.append(f"{b.where}: not YAML: {str(exc).splitlines()[0]}")
                continue
            if not isinstance(data, dict) or not set(data) <= keys:
                other = sorted(set(data) - keys) if isinstance(data, dict) else type(data).__name__
                problems.append(f"{b.where}: not an mlci.yaml ({other} are not its keys); "
                                "mark it <!-- docs-test: other-file --> if it is another file")
                continue
            checked += 1
            try:
                parse(_merged(BASE_CONFIG, data), source=b.where)
            except MlciError as exc:
                problems.append(f"{b.where}: {exc}")
    assert checked >= 5
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------------------- Shell

@dataclass
class Command:
    where: str
    argv: list[str]
    run: bool


def shell_commands(doc: Path) -> list[Command]:
    found = []
    for b in blocks(doc):
        if b.lang not in SHELL_LANGS:
            continue
        lines = b.text.split("\n")
        if b.lang == "console":
            lines = [line[2:] if line.startswith("$ ") else "" for line in lines]
        joined, start = [], []
        for n, line in enumerate(lines):  # backslash continuations
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1] + " " + line
            else:
                joined.append(line)
                start.append(n)
        for n, line in zip(start, joined):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            try:
                words = list(lexer)
            except ValueError as exc:
                found.append(Command(f"{b.where.rsplit(':', 1)[0]}:{b.line + n}", ["<unparsable>", str(exc)], False))
                continue
            segment: list[str] = []
            for word in [*words, ";"]:
                if word in (";", "&&", "||", "|", "&"):
                    if segment and segment[0] == "mlci":
                        found.append(Command(f"{b.where.rsplit(':', 1)[0]}:{b.line + n}", segment[1:],
                                             "illustrative" not in b.marks))
                    segment = []
                else:
                    segment.append(word)
    return found


def cli_problem(argv: list[str]) -> str | None:
    """What the CLI's own parser says about argv (None: it parses)."""
    from mlci.cli import COMMANDS, build_parser

    if not argv or argv[0] not in COMMANDS:
        return f"no command `{argv[0] if argv else ''}`"
    parser, _ = build_parser(argv[0])
    err = io.StringIO()
    try:
        with redirect_stderr(err):
            parser.parse_args(argv[1:])
    except SystemExit:
        return err.getvalue().strip().splitlines()[-1]
    return None


def test_every_mlci_command_in_a_shell_block_parses() -> None:
    problems, seen = [], 0
    for doc in DOCS:
        for cmd in shell_commands(doc):
            seen += 1
            problem = cli_problem(cmd.argv)
            if problem:
                problems.append(f"{cmd.where}: mlci {' '.join(cmd.argv)}: {problem}")
    assert seen > 30
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def example_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs-example")
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns(".mlci", "data"))
    subprocess.run([sys.executable, "make_data.py", "breast-cancer"], cwd=root / "examples", check=True,
                   capture_output=True, env=cli_env())
    return root / "examples" / "breast-cancer"


def test_every_mlci_command_not_marked_illustrative_runs_on_the_example(example_project: Path) -> None:
    """In the order of the docs, in one copy of examples/breast-cancer (README's `mlci run` first)."""
    runnable = [c for doc in DOCS for c in shell_commands(doc) if c.run]
    assert runnable, "no doc command runs: mark fewer blocks illustrative"
    problems = []
    for cmd in runnable:
        proc = subprocess.run([sys.executable, "-m", "mlci", *cmd.argv], cwd=example_project, env=cli_env(),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            problems.append(f"{cmd.where}: mlci {shlex.join(cmd.argv)} exited {proc.returncode}: "
                            f"{proc.stderr.strip().splitlines()[-1:] or ''}")
    assert not problems, "\n".join(problems) + "\n(mark a block <!-- docs-test: illustrative --> if it cannot run here)"


# ----------------------------------------------------------------------------- links and paths

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"^(?:README\.md|Jenkinsfile\.\w+|Makefile|(?:docs|vars|src|resources|python|tests|docker|examples|bench)/[\w./@*<>-]*)$")


def test_links_and_file_references_resolve() -> None:
    problems = []
    for doc in DOCS:
        for n, line in prose(doc):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                path = (doc.parent / target.split("#")[0]).resolve()
                if not path.exists():
                    problems.append(f"{doc.relative_to(REPO)}:{n}: link to {target}: no such file")
        for n, span in inline_code(doc):
            word = span.split()[0] if span.split() else ""
            if not REPO_PATH.match(word) or re.search(r"[*<>]", word):
                continue
            if not (REPO / word.rstrip("/")).exists():
                problems.append(f"{doc.relative_to(REPO)}:{n}: `{span}`: no such file in the repository")
        for n, line in prose(doc):  # bare mentions in prose, e.g. "see docs/examples/Jenkinsfile.nightly"
            for word in re.findall(r"(?<![\w/.`-])((?:docs|docker|examples|vars|resources)/[\w./-]*\w|Jenkinsfile\.\w+)", line):
                if not (REPO / word).exists():
                    problems.append(f"{doc.relative_to(REPO)}:{n}: {word}: no such file in the repository")
    assert not problems, "\n".join(problems)


def test_a_block_that_names_its_file_is_that_file() -> None:
    """A snippet whose first line is `// <path>: ...` (or `# <path>`) shows that file of the repository whole."""
    named = 0
    for doc in DOCS:
        for b in blocks(doc):
            m = re.match(r"^(?://|#)\s*((?:docs|examples|docker|resources)/[\w./-]+)[:\s]", b.text)
            if not m:
                continue
            named += 1
            path = REPO / m.group(1)
            assert path.is_file(), f"{b.where}: names {m.group(1)}, which does not exist"
            assert b.text.strip() == path.read_text().strip(), f"{b.where}: differs from {m.group(1)}"
    assert named >= 1


def test_every_image_recipe_has_a_support_status() -> None:
    """docker/README.md names every recipe under docker/ and says whether it is supported."""
    table = (REPO / "docker" / "README.md").read_text()
    for recipe in sorted(p.name for p in (REPO / "docker").iterdir() if p.is_dir()):
        row = next((line for line in table.splitlines() if line.startswith(f"| `{recipe}/`")), None)
        assert row is not None, f"docker/{recipe} is not in docker/README.md"
        assert re.search(r"supported|unsupported|test environment only", row), row
    assert table.count("the one agent image") == 1


# ------------------------------------------------------------------------- docs/jenkins.md for admins

def _plugin_of() -> dict[str, str]:
    """The plugin of each step, as the pipeline harness declares it (tests/groovy/harness/PipelineHarness.groovy)."""
    text = (REPO / "tests" / "groovy" / "harness" / "PipelineHarness.groovy").read_text()
    block = text[text.index("PLUGIN_OF = ["):]
    block = block[:block.index("]")]
    return dict(re.findall(r"(\w+): '([\w-]+)'", block))


def _steps_used_by_the_library() -> set[str]:
    sources = [*(REPO / "vars").glob("*.groovy"), *(REPO / "src").rglob("*.groovy")]
    text = "\n".join(re.sub(r"//.*|/\*.*?\*/", "", p.read_text(), flags=re.S) for p in sources)
    return {step for step in _plugin_of()
            if re.search(rf"(?:(?<![\w.])|\bscript\.){step}\s*[({{]", text)}


def _plugin_table() -> dict[str, str]:
    """docs/jenkins.md's plugin table: the plugin ids in its first column -> the whole row."""
    rows = {}
    text = (REPO / "docs" / "jenkins.md").read_text()
    section = text[text.index("### 1. Jenkins and plugins"):]
    for line in section[:section.index("\n### ", 1)].splitlines():
        if line.startswith("| `") and "|" in line[1:]:
            for plugin in re.findall(r"`([\w-]+)`", line.split("|")[1]):
                rows[plugin] = line
    return rows


def test_every_plugin_step_the_library_uses_is_in_the_plugin_table_with_a_minimum_version() -> None:
    plugin_of, table = _plugin_of(), _plugin_table()
    used = _steps_used_by_the_library()
    assert {"sh", "input", "lock", "milestone", "withCredentials", "libraryResource", "publishHTML"} <= used
    problems = []
    for step in sorted(used):
        plugin = plugin_of[step]
        row = table.get(plugin)
        if row is None:
            problems.append(f"step `{step}` (plugin {plugin}) is used by the library; {plugin} is not in the plugin table")
        elif f"`{step}`" not in row:
            problems.append(f"step `{step}` is used by the library; the row of {plugin} does not name it")
        elif not re.search(r"^\|[^|]*\|\s*(\d[\w.]*|bom-[\d.x]+)\b[^|]*\|", row):
            problems.append(f"the row of {plugin} has no minimum version")
    assert not problems, "\n".join(problems)


def test_one_canonical_set_of_credential_ids() -> None:
    """Every credentials id in a Groovy snippet of the docs is one of the ids docs/jenkins.md's credentials table lists."""
    jenkins = (REPO / "docs" / "jenkins.md").read_text()
    section = jenkins[jenkins.index("### Credentials"):]
    canonical = set(re.findall(r"^\| `([\w-]+)` \|", section[:section.index("\n#", 1)], flags=re.M))
    assert {"mlci-s3", "mlci-registry", "mlci-forge-token", "mlci-jenkins-api"} <= canonical
    problems = []
    for doc in [*DOCS, *JENKINSFILES]:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for used in re.findall(r"[cC]redentialsId: '([^']+)'", line):
                if used not in canonical:
                    problems.append(f"{doc.relative_to(REPO)}:{n}: credentials id '{used}' is not one of {sorted(canonical)}")
    assert not problems, "\n".join(problems)
