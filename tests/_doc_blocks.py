"""The fenced code blocks of README.md and docs/: found, classified and run as a reader would.

A block is classified by its fence language alone:

- ``python``/``ipython``: run, in order, as cells of ONE Jupyter kernel per page;
- ``bash``/``sh``/``shell``/``console``: run with bash (``set -e``) in the page's folder, with
  the venv's ``bin`` first on ``PATH`` (for ``console``, only the ``$ `` lines);
- ``text``, ``json``, ``yaml``, ... : examples, outputs and synopses, never run;
- ``{directive}``: myst directives (toctree, eval-rst, ...), not code.

A fence without a language, or with one not listed here, is an error: every block must say
what it is. A runnable block that needs something the tests cannot start (a PostgreSQL or
S3 server, Kubernetes, Docker, PyPI, a browser) carries the marker
``<!-- docs-test: skip (needs PostgreSQL) -->`` among the comment lines right above its
fence; the reason is required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PYTHON = frozenset({"python", "python3", "py", "ipython", "ipython3"})
SHELL = frozenset({"bash", "sh", "shell", "console"})
NOT_RUN = frozenset({"text", "json", "yaml", "toml", "http", "ini", "csv", "diff", "output",
                     "dockerfile", "html", "xml", "cfg", "none"})
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<reason>.*)\)\s*-->\s*$")
ANY_MARKER = re.compile(r"^\s*<!--\s*docs-test")
COMMENT = re.compile(r"^\s*<!--.*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: where it starts, its language, its code, its marker."""

    page: str
    line: int
    lang: str
    code: str
    skip: str | None = None

    @property
    def kind(self) -> str:
        """``python``, ``shell``, ``text``, ``directive`` or ``unknown``."""
        if self.lang.startswith("{"):
            return "directive"
        if self.lang in PYTHON:
            return "python"
        if self.lang in SHELL:
            return "shell"
        if self.lang in NOT_RUN:
            return "text"
        return "unknown"

    @property
    def runnable(self) -> bool:
        """Whether the block is code a reader runs (marked or not)."""
        return self.kind in ("python", "shell")

    @property
    def where(self) -> str:
        """``page:line`` of the opening fence."""
        return f"{self.page}:{self.line}"

    def script(self) -> str:
        """The code to run: the block itself, or a console block's ``$`` commands."""
        if self.lang != "console":
            return self.code
        commands: list[str] = []
        continued = False
        for line in self.code.splitlines():
            if continued or line.startswith("$ "):
                commands.append(line if continued else line[2:])
                continued = line.rstrip().endswith("\\")
        return "\n".join(commands) + "\n"


def pages() -> list[Path]:
    """README.md and every Markdown page of docs/ (not the build output or copied notebooks)."""
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md")
                  if not {"_build", "generated"} & set(p.relative_to(ROOT / "docs").parts))
    return [ROOT / "README.md", *docs]


def page_id(path: Path) -> str:
    """The page's path relative to the repository root."""
    return path.relative_to(ROOT).as_posix()


class MarkerError(ValueError):
    """A ``docs-test`` comment that is malformed or not right above a fence."""


def blocks(path: Path) -> list[Block]:
    """Return the fenced blocks of one page, in order; raise MarkerError on a bad marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = page_id(path)
    found: list[Block] = []
    used_markers: set[int] = set()
    in_fence: set[int] = set()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        body = [line[indent:] if line[:indent].strip() == "" else line.lstrip()
                for line in lines[i + 1:end]]
        skip, marker_line = _marker(lines, i, page)
        if marker_line is not None:
            used_markers.add(marker_line)
        in_fence.update(range(i, end + 1))
        found.append(Block(page, i + 1, match["info"].strip().split(" ")[0].lower(),
                           "\n".join(body) + "\n", skip))
        i = end + 1
    for n, line in enumerate(lines):
        if ANY_MARKER.search(line) and n not in used_markers | in_fence:
            raise MarkerError(f"{page}:{n + 1}: a docs-test marker must be one line "
                              "'<!-- docs-test: skip (REASON) -->' right above a fence")
    return found


def _marker(lines: list[str], fence: int, page: str) -> tuple[str | None, int | None]:
    """Return the skip reason among the comment lines right above ``fence`` and its line."""
    n = fence - 1
    while n >= 0 and COMMENT.match(lines[n]):
        if ANY_MARKER.search(lines[n]):
            match = MARKER.match(lines[n])
            if not match or not match["reason"].strip():
                raise MarkerError(f"{page}:{n + 1}: write '<!-- docs-test: skip (REASON) -->'"
                                  " with the service the block needs as REASON")
            return match["reason"].strip(), n
        n -= 1
    return None, None
