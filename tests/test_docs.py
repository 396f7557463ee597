"""The documentation's examples run, so the docs cannot rot.

Every ```python block of a documentation file is executed in order, all the
blocks of one file sharing one namespace (a later block uses what an earlier
one defined), exactly as a reader pasting them into a fresh Python session
would. Each file runs in its own interpreter, so the examples see the default
flags and a freshly imported package whatever other tests did before.
Blocks fenced as ```text, ```bash and so on are not run.

A failing block is reported with its file and line: the code is compiled
under the Markdown file's own path with its original line numbers, so the
traceback points into the .md file.

Run one file by hand with ``python tests/test_docs.py docs/user-guide.md``.
"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

# Files whose ```python blocks are executed.
RUNNABLE = ["user-guide.md", "architecture.md", "api.md"]

_FENCE = re.compile(r"^```(\S*)\s*$")


def python_blocks(path):
    """``[(first_line_number, source)]`` for each ```python block of ``path`` (1-based lines)."""
    blocks, lang, start, body = [], None, 0, []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.rstrip("\n")
            if lang is None:
                m = _FENCE.match(text)
                if m:
                    lang, start, body = m.group(1), lineno + 1, []
            elif text == "```":
                if lang == "python":
                    blocks.append((start, "".join(body)))
                lang = None
            else:
                body.append(line)
    if lang is not None:
        raise AssertionError(f"{path}: the ``` fence opened at line {start - 1} is never closed")
    return blocks


def run_blocks(path):
    """Execute the python blocks of ``path`` in order in one namespace (in this process)."""
    try:  # as in tests/conftest.py: a rewrite that raises is a bug, not a warning
        from symbolic.rewriting import core
        core.strict = True
    except (ImportError, AttributeError):
        pass
    namespace = {"__name__": "__docs__"}
    for start, source in python_blocks(path):
        # Pad with newlines so that line numbers in tracebacks are the .md file's.
        code = compile("\n" * (start - 1) + source, path, "exec")
        try:
            exec(code, namespace)
        except BaseException:
            print(f"\n*** the python block starting at {path}:{start} failed ***\n", file=sys.stderr)
            raise


@pytest.mark.parametrize("name", RUNNABLE)
def test_doc_examples_run(name, tmp_path):
    path = os.path.join(DOCS, name)
    assert os.path.exists(path), f"docs/{name} is missing"
    blocks = python_blocks(path)
    assert blocks, f"docs/{name} has no python examples"
    if name == "user-guide.md":
        assert len(blocks) >= 20, "the user guide should be mostly runnable examples"
    env = dict(os.environ)
    env.pop("SYMBOLIC_FLAGS", None)  # the docs describe the default flags
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # The examples run in tmp_path, so any file they write (graph.dot...) lands there.
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), path], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"docs/{name}: an example failed\n--- stderr ---\n{proc.stderr[-6000:]}"
                    f"\n--- stdout (tail) ---\n{proc.stdout[-2000:]}", pytrace=False)


def test_fences_are_balanced_and_tagged():
    """Every opening fence names a language, so no example is silently skipped or run."""
    for name in RUNNABLE + ["index.md"]:
        path = os.path.join(DOCS, name)
        python_blocks(path)  # raises on an unclosed fence
        inside = False
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                m = _FENCE.match(line.rstrip("\n"))
                if not m:
                    continue
                if not inside:
                    assert m.group(1), f"docs/{name}:{lineno}: give the fence a language (python, text...)"
                    inside = True
                elif m.group(1) == "":
                    inside = False


def test_links_between_docs_resolve():
    """Relative links to .md files point at files that exist (or that other authors are writing)."""
    written_elsewhere = {"nets.md", "migration.md"}
    for name in RUNNABLE + ["index.md"]:
        with open(os.path.join(DOCS, name), encoding="utf-8") as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)", text):
            if target in written_elsewhere:
                continue
            assert os.path.exists(os.path.join(DOCS, target)), f"docs/{name} links to missing {target}"


def test_tensor_constructor_survives_importing_the_alias_package():
    """The guide's ``S.tensor(dtype, shape, name)`` keeps working after ``import symbolic.tensor``.

    Importing the subpackage ``symbolic.tensor`` (as Theano-style code and the
    nets package do) sets the attribute ``symbolic.tensor`` to the module; the
    module must then still be the documented constructor.
    """
    import symbolic
    import symbolic.tensor  # noqa: F401
    x = symbolic.tensor("float32", (None, 3), "x")
    assert x.type.shape == (None, 3) and x.dtype == "float32" and x.name == "x"


if __name__ == "__main__":
    for _path in sys.argv[1:]:
        run_blocks(_path)
