"""The README and `docs/` as `tests/test_docs.py` reads them: fenced blocks, the commands of the
```sh blocks with the output their comments show, what kind each command is, links and headings.

A ```sh block holds commands, one a line (a trailing `\\` continues it), with `#` comments. A
comment after a command, on its line or on the comment lines right below it, that begins with one
of `SHOWN` shows what the command prints; `pieces` says what of it must be in the output. Each line
is split into steps at `&&`, `;` and `&` (a step before `&` runs in the background), and each step
is of one of `KINDS`, or of none: a command the tests do not know.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = (README, *sorted((ROOT / "docs").glob("*.md")))

SHOWN = ("{", "[", "data:", "HTTP/")
"""How a comment that shows a command's output begins."""

READERS_OWN = {
    "npm run e2e -- --base-url http://127.0.0.1:4011": "the reader's end-to-end tests, through the proxy",
}
"""Commands of the reader's own project; each is replaced by a stop sent through the block's proxy."""

READER_VALUES = {
    "KEY_OF_ACCOUNT_A": "key-a",
    "KEY_OF_ACCOUNT_B": "key-b",
    "KEY_A": "key-a",
    "KEY_B": "key-b",
    "CHAT_OF_A": "11111111-1111-4111-8111-111111111111",
    "CHAT_OF_B": "33333333-3333-4333-8333-333333333333",
    "STAGING_URL": "https://staging.example.com",
}
"""What the pages leave their reader to fill in, as a reader would: the commands only parsed get these."""

KINDS = {
    "serve": "started on a free port, every other flag kept; it must answer",
    "proxy": "started in front of a local mock; stopped with SIGTERM, its report and recording written",
    "curl": "run against the block's mock or proxy; exit status 0 and the output shown",
    "redis": "a redis-server on a free port, with the command's flags",
    "assign": "shell variables for the block's later commands",
    "sleep": "slept (at most a few seconds)",
    "wait": "waits for the block's background commands",
    "kill": "stops a background server of the block, which must exit with 0",
    "readers-own": "replaced by a stop sent through the block's proxy",
    "contract": "parsed with recoup-contract's parser; the one against a local mock runs one rule",
    "contract-pytest": "the suite's folder computed, the options parsed as its conftest declares them",
    "bench": "parsed with bench's parser",
    "install": "not run: one of the README's two commands, or in .ci/run",
    "ci-check": "not run: in .ci/run",
}


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page, with the line its fence opens on."""

    page: Path
    line: int
    language: str
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass(frozen=True)
class Step:
    """One command of a page: a step of a line of a ```sh block."""

    page: Path
    line: int
    text: str
    shown: tuple[str, ...] = ()
    """The lines of its comments that show what it prints."""
    background: bool = False

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def program(self) -> list[str]:
        """The words from the program on (assignments before it dropped), `.venv/bin/` left out."""
        words = self.words
        while words and re.match(r"[A-Za-z_]\w*=", words[0]):
            words = words[1:]
        if words and words[0].startswith(".venv/bin/"):
            words = [words[0].removeprefix(".venv/bin/"), *words[1:]]
        return words

    @property
    def kind(self) -> str | None:
        """What the step is (a key of `KINDS`), or None for a command the tests do not know."""
        if self.text in READERS_OWN:
            return "readers-own"
        try:
            words = self.program
        except ValueError:
            return None
        if not words:
            return "assign"
        return _kind(words[0], words[1:])

    def filled_in(self) -> list[str]:
        """`program`, each shell variable given its `READER_VALUES` value."""

        def value(found: re.Match[str]) -> str:
            name = found.group(1) or found.group(2)
            assert name in READER_VALUES, f"{self.where}: ${name}: give READER_VALUES a value for it"
            return READER_VALUES[name]

        return [re.sub(r"\$\{(\w+)\}|\$(\w+)", value, word) for word in self.program]


def _kind(name: str, rest: list[str]) -> str | None:
    if name == "recoup-mock" and rest[:1] in (["serve"], ["proxy"]):
        return rest[0]
    if name == "pytest" and rest and "contract_tests" in rest[0]:
        return "contract-pytest"
    by_name = {
        "recoup-contract": "contract",
        "bench/run": "bench",
        "curl": "curl",
        "redis-server": "redis",
        "sleep": "sleep",
        "wait": "wait",
        "ruff": "ci-check",
        "mypy": "ci-check",
        "pytest": "ci-check",
        "pip": "install",
    }
    if name in by_name:
        return by_name[name]
    if name in ("python", "python3") and rest[:2] == ["-m", "bench"]:
        return "bench"
    if (name, *rest[:2]) == ("python3", "-m", "venv") or (name, *rest[:1]) == ("npm", "install"):
        return "install"
    if name == "kill" and len(rest) == 2 and rest[0] == "-TERM" and rest[1].startswith("%"):
        return "kill"
    return None


def fences(page: Path) -> list[Fence]:
    found = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"\s*`{3,}\s*([\w+-]*)", line)
        if opened is None and fence:
            opened, body = (number, fence.group(1)), []
        elif opened is not None and re.fullmatch(r"\s*`{3,}\s*", line):
            found.append(Fence(page, opened[0], opened[1], tuple(body)))
            opened = None
        elif opened is not None:
            body.append(line)
    return found


def _outside_quotes(text: str) -> Iterator[tuple[int, str]]:
    """Each character of a shell line that is not quoted or escaped, with its index."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        else:
            yield index, char


def split_comment(line: str) -> tuple[str, str | None]:
    """A line's code and its comment (`#` at the start of a word, outside quotes)."""
    for index, char in _outside_quotes(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), None


def split_steps(code: str) -> list[tuple[str, bool]]:
    """A line's steps at `&&`, `;` and `&` outside quotes, each with whether it runs in the background."""
    steps: list[tuple[str, bool]] = []
    start = 0
    for index, char in _outside_quotes(code):
        if index < start:
            continue  # the second `&` of `&&`
        if char == ";" or code.startswith("&&", index):
            steps.append((code[start:index], False))
            start = index + (1 if char == ";" else 2)
        elif char == "&":
            steps.append((code[start:index], True))
            start = index + 1
    steps.append((code[start:], False))
    return [(text.strip(), background) for text, background in steps if text.strip()]


def steps_of(fence: Fence) -> list[Step]:
    """The steps of a ```sh block; the last step of a line gets the output its comments show."""
    steps: list[Step] = []
    lines = fence.lines
    index = 0
    while index < len(lines):
        number = fence.line + 1 + index
        logical = lines[index]
        while logical.endswith("\\") and index + 1 < len(lines):
            index += 1
            logical = logical[:-1] + " " + lines[index].strip()
        index += 1
        code, comment = split_comment(logical)
        if not code:
            continue
        shown = [comment] if comment and comment.startswith(SHOWN) else []
        while index < len(lines) and lines[index].lstrip().startswith("#"):
            below = lines[index].lstrip()[1:].strip()
            if below.startswith(SHOWN):
                shown.append(below)
            index += 1
        parts = split_steps(code)
        for position, (text, background) in enumerate(parts):
            last = position == len(parts) - 1
            steps.append(Step(fence.page, number, text, tuple(shown) if last else (), background))
    return steps


def sh_blocks() -> list[list[Step]]:
    """Every ```sh block of the pages, as its steps, in page order."""
    return [steps_of(fence) for page in PAGES for fence in fences(page) if fence.language == "sh"]


def pieces(shown: str) -> list[str]:
    """What of a shown line must be in the output: its pieces between `…`, spaces aside, without
    the remark in parentheses after two spaces."""
    text = re.split(r"\s{2,}\(", shown)[0]
    return [piece for piece in (re.sub(r"\s", "", p) for p in text.split("…")) if len(piece) >= 4]


def _prose(page: Path) -> Iterator[tuple[int, str]]:
    """The page's lines outside fenced blocks, numbered."""
    inside = {n for fence in fences(page) for n in range(fence.line, fence.line + len(fence.lines) + 2)}
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if number not in inside:
            yield number, line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(found.group(1)) for _, line in _prose(page) if (found := re.match(r"#{1,6}\s+(.+)", line))}


def links(page: Path) -> Iterator[tuple[int, str]]:
    """Each link target of the page (outside code), with its line."""
    for number, line in _prose(page):
        for found in re.finditer(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
            yield number, found.group(1)
