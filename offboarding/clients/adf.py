"""Tiny builders for Atlassian Document Format, the JSON Jira v3 takes for descriptions and comments.

doc(heading("Offboarded"), paragraph("User ", strong("jdoe"), " was deactivated."),
    table(["Group", "Result"], [["Engineering", "removed"]]))
"""

from __future__ import annotations

import json
from typing import Any

Node = dict[str, Any]
Inline = Node | str

# Jira Cloud refuses a description or a comment longer than this (JRACLOUD-68949), counted as Java counts
# a string (UTF-16 code units). A document is measured as the JSON it is sent as: within that, it is within
# any reading of the limit.
TEXT_LIMIT = 32_767


def size(node: Node) -> int:
    """The document's length as Jira's limit counts it."""
    return len(json.dumps(node, separators=(",", ":"), ensure_ascii=False).encode("utf-16-le")) // 2


def fits(node: Node) -> bool:
    return size(node) <= TEXT_LIMIT


def links(node: Any) -> set[str]:
    """Every link's address in a document (or any part of one)."""
    if isinstance(node, list):
        return set().union(*(links(child) for child in node))
    if not isinstance(node, dict):
        return set()
    found = {m["attrs"]["href"] for m in node.get("marks", []) if m.get("type") == "link" and m.get("attrs")}
    return found | links(node.get("content", []))


def text_within_limit(value: str, note: str, *after: Node) -> Node:
    """A document of one paragraph of `value` (then the blocks `after`, whole), the paragraph cut (and ended
    with `note`) where the document would exceed the limit."""
    document = doc(paragraph(value), *after)
    while not fits(document) and value:
        # Each character is at least one unit of JSON, so cutting the excess gets there in a pass or two.
        value = value[: max(0, len(value) - (size(document) - TEXT_LIMIT) - len(note) - 1)]
        document = doc(paragraph(value + " " + note), *after)
    return document


def doc(*blocks: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def text(value: str, *marks: str, href: str = "") -> Node:
    node: Node = {"type": "text", "text": value}
    mark_nodes: list[Node] = [{"type": mark} for mark in marks]
    if href:
        mark_nodes.append({"type": "link", "attrs": {"href": href}})
    if mark_nodes:
        node["marks"] = mark_nodes
    return node


def strong(value: str) -> Node:
    return text(value, "strong")


def code(value: str) -> Node:
    return text(value, "code")


def link(value: str, href: str) -> Node:
    return text(value, href=href)


def paragraph(*parts: Inline) -> Node:
    # ADF refuses empty text nodes.
    content = [text(p) if isinstance(p, str) else p for p in parts if p != ""]
    return {"type": "paragraph", "content": content}


def heading(value: str, level: int = 3) -> Node:
    return {"type": "heading", "attrs": {"level": level}, "content": [text(value)]}


def bullet_list(*items: Inline | list[Inline]) -> Node:
    return {
        "type": "bulletList",
        "content": [
            {"type": "listItem", "content": [paragraph(*(item if isinstance(item, list) else [item]))]}
            for item in items
        ],
    }


def code_block(value: str, language: str = "") -> Node:
    node: Node = {"type": "codeBlock", "content": [text(value)] if value else []}
    if language:
        node["attrs"] = {"language": language}
    return node


def table(header: list[str], rows: list[list[Inline]]) -> Node:
    def cell(kind: str, value: Inline) -> Node:
        return {"type": kind, "content": [paragraph(value)]}

    return {
        "type": "table",
        "content": [
            {"type": "tableRow", "content": [cell("tableHeader", h) for h in header]},
            *({"type": "tableRow", "content": [cell("tableCell", v) for v in row]} for row in rows),
        ],
    }


def plain_text(node: Any) -> str:
    """The words of an ADF document (a description, a comment), each block on a line of its own."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text") or "")
    parts = [plain_text(child) for child in node.get("content") or [] if isinstance(child, dict)]
    inline = all(isinstance(child, dict) and child.get("type") == "text" for child in node.get("content") or [])
    return ("" if inline else "\n").join(parts)
