"""The README's shell blocks, and what the commands in them run, set and use.

A small lexer for the shell the README writes (quotes, `$VAR`, `${VAR}`, `$(...)`, pipes,
`&&`, `;`, redirections, `until ...; do ...; done`, continuation lines), not a full shell:
enough to name every command a line runs and every variable it reads or sets, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
SHELL_FENCES = ("sh", "console")
_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
_DUPLICATION = re.compile(r"\d*[<>]&(\d+|-)")
# Words after which the next word is a command again.
KEYWORDS = {"until", "while", "do", "then", "if", "elif", "else", "!", "done", "fi", "{", "}"}


@dataclass(frozen=True, slots=True)
class ShellBlock:
    section: str  # the nearest "## " heading above it
    line: int  # line number of its first command in README.md
    text: str  # the commands; a console block's `$ ` lines without the prompt


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "run" (a command name), "set" or "use" (a variable)
    name: str
    value: str = ""  # "set": the assigned text, quotes removed, unexpanded
    words: tuple[str, ...] = ()  # "run": the command's words after its name


def shell_blocks(text: str | None = None) -> list[ShellBlock]:
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[ShellBlock] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("## "):
            section = line[3:].strip()
        fence = _FENCE.match(line)
        if fence is None:
            index += 1
            continue
        indent, lang = fence.group(1), fence.group(2)
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        start = index - len(body) + 1
        index += 1
        if lang == "console":
            body = [b[2:] for b in body if b.startswith("$ ")]
        if lang in SHELL_FENCES:
            blocks.append(ShellBlock(section, start, "\n".join(body)))
    return blocks


def _join_continuations(text: str) -> str:
    return re.sub(r"\\\n\s*", " ", text)


def scan(text: str) -> list[Event]:
    """What `text` runs, sets and uses, in the order the shell meets it."""
    return _Scanner(_join_continuations(text)).events()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.out: list[Event] = []

    def events(self) -> list[Event]:
        self._commands(stop=None)
        return self.out

    def _commands(self, stop: str | None) -> None:
        """Commands until `stop` (")" of a substitution) or the end."""
        words: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if stop is not None and char == stop:
                self.pos += 1
                break
            if char in " \t" or char == ")":  # a stray ")" (stop is None): nothing to run
                self.pos += 1
            elif char == "#":
                while self.pos < len(self.text) and self.text[self.pos] != "\n":
                    self.pos += 1
            elif char in ";|&\n":
                self._flush(words)
                words = []
                self.pos += 1
            elif char in "<>" or (char.isdigit() and self._next() in ("<", ">")):
                self._redirection()
            else:
                words.append(self._word())
        self._flush(words)

    def _next(self) -> str:
        return self.text[self.pos + 1 : self.pos + 2]

    def _redirection(self) -> None:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789<>&-":
            self.pos += 1
        if _DUPLICATION.fullmatch(self.text[start : self.pos]):
            return  # 2>&1: no file
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        if self.pos < len(self.text) and self.text[self.pos] not in ";|&\n":
            self._word()  # the file: not a command

    def _word(self) -> str:
        out = ""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t;|&\n<>)":
                break
            if char == "'":
                end = self.text.index("'", self.pos + 1)
                out += self.text[self.pos + 1 : end]
                self.pos = end + 1
            elif char == '"':
                self.pos += 1
                while self.text[self.pos] != '"':
                    out += self._dollar() if self.text[self.pos] == "$" else self._char()
                self.pos += 1
            elif char == "$":
                out += self._dollar()
            else:
                out += self._char()
        return out

    def _char(self) -> str:
        char = self.text[self.pos]
        if char == "\\" and self.pos + 1 < len(self.text):
            self.pos += 2
            return self.text[self.pos - 1]
        self.pos += 1
        return char

    def _dollar(self) -> str:
        rest = self.text[self.pos + 1 :]
        if rest.startswith("("):
            self.pos += 2
            self._commands(stop=")")
            return "$(...)"
        braced = rest.startswith("{")
        match = _NAME.match(rest[1:] if braced else rest)
        if match is None:  # $? $1 $$: not a variable the README sets
            self.pos += 2
            return "$" + rest[:1]
        name = match.group(0)
        self.pos += 1 + len(name) + (2 if braced else 0)
        self.out.append(Event("use", name))
        return "$" + name

    def _flush(self, words: list[str]) -> None:
        # A word's variables were recorded as it was read; an assignment takes effect after.
        index = 0
        while index < len(words) and (m := _ASSIGNMENT.match(words[index])):
            self.out.append(Event("set", m.group(1), words[index][m.end() :]))
            index += 1
        while index < len(words) and words[index] in KEYWORDS:
            index += 1
        if index >= len(words):
            return
        name, args = words[index], words[index + 1 :]
        self.out.append(Event("run", name, words=tuple(args)))
        if name == "export":
            for arg in args:
                if m := _ASSIGNMENT.match(arg):
                    self.out.append(Event("set", m.group(1), arg[m.end() :]))
        elif name in PREFIXES:
            self._flush(PREFIXES[name](list(args)))


def _after_options(args: list[str], with_value: frozenset[str] = frozenset()) -> list[str]:
    index = 0
    while index < len(args) and args[index].startswith("-"):
        index += 2 if args[index] in with_value else 1
    return args[index:]


# Commands that run another command: what follows their own options and arguments.
PREFIXES = {
    "sudo": lambda a: _after_options(a, frozenset({"-u", "-g"})),
    "timeout": lambda a: _after_options(a, frozenset({"-s", "-k"}))[1:],
    "env": lambda a: [w for w in _after_options(a) if not _ASSIGNMENT.match(w)],
}
