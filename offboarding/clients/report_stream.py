"""A RaaS JSON report's rows, one at a time, as its body arrives.

`{"Report_Entry": [row, row, ...]}` is read chunk by chunk: each row is decoded by the standard library's
JSON decoder as soon as its text is complete, and the text already read is let go. So a 50 MB report is
never held whole, neither as bytes nor as one parsed tree, and the read timeout applies to each chunk.

Why not a streaming JSON library (ijson): it refuses the whole report for one row holding an integer
longer than a C long, where the rule is that any row may be hostile and the other rows must still be
read. The standard decoder takes such an integer (as its digits: see `parse_int`), and lone surrogates.

A body that is not a report raises `NotAReport`: the caller must never take "no terminations" from it.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

WHITESPACE = " \t\n\r"
# Text already parsed is dropped once this much of it has piled up at the front of the buffer.
KEEP_AT_MOST = 1 << 20


class NotAReport(ValueError):
    pass


class _Buffer:
    """Decoded text of the body, read on demand from its chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.text = ""
        self.pos = 0
        self.ended = False

    def more(self) -> bool:
        """Read at least one more character; False at the end of the body."""
        while not self.ended:
            if self.pos > KEEP_AT_MOST:
                self.text, self.pos = self.text[self.pos :], 0
            try:
                chunk = next(self.chunks)
            except StopIteration:
                self.ended = True
                chunk = b""
            try:
                piece = self.decoder.decode(chunk, final=self.ended)
            except UnicodeDecodeError as e:
                raise NotAReport(f"the body is not UTF-8 ({e.reason})") from e
            if piece:
                self.text += piece
                return True
        return False

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), without taking it."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def expect(self, *characters: str) -> str:
        found = self.peek()
        if found not in characters:
            raise NotAReport(f"expected {' or '.join(characters)} in the report, found {found or 'the end'!r}")
        self.pos += 1
        return found

    def value(self, decode: Callable[[str, int], tuple[Any, int]]) -> Any:
        """One JSON value, read until its text is complete."""
        self.peek()
        while True:
            try:
                value, end = decode(self.text, self.pos)
            except json.JSONDecodeError as e:
                if self._grow():
                    continue
                raise NotAReport(f"not JSON: {e.msg}") from e
            except RecursionError as e:
                raise NotAReport("not JSON: nested too deep") from e
            # A number that ends where the text read so far ends may have more digits to come.
            if end == len(self.text) and self._grow():
                continue
            self.pos = end
            return value

    def _grow(self) -> bool:
        """Read until the unparsed text has doubled (or the body ends): each failed decode is paid for."""
        wanted = 2 * (len(self.text) - self.pos) + 1
        grew = False
        while len(self.text) - self.pos < wanted and self.more():
            grew = True
        return grew


def report_entries(chunks: Iterable[bytes], parse_int: Callable[[str], Any] = int) -> Iterator[Any]:
    """Each element of the body's `Report_Entry` list, in order; the other members are read and ignored."""
    decode = json.JSONDecoder(parse_int=parse_int).raw_decode
    body = _Buffer(chunks)
    body.expect("{")
    seen = False
    if body.peek() == "}":
        body.pos += 1
    else:
        while True:
            name = body.value(decode)
            if not isinstance(name, str):
                raise NotAReport("a member's name is not a string")
            body.expect(":")
            if name != "Report_Entry":
                body.value(decode)
            elif seen:
                raise NotAReport("the body has two Report_Entry lists")
            else:
                seen = True
                yield from _elements(body, decode)
            if body.expect(",", "}") == "}":
                break
    if body.peek():
        raise NotAReport("the body goes on after the report")
    if not seen:
        raise NotAReport("the body has no Report_Entry list")


def _elements(body: _Buffer, decode: Callable[[str, int], tuple[Any, int]]) -> Iterator[Any]:
    if body.peek() != "[":
        raise NotAReport("Report_Entry is not a list")
    body.pos += 1
    if body.peek() == "]":
        body.pos += 1
        return
    while True:
        yield body.value(decode)
        if body.expect(",", "]") == "]":
            return
