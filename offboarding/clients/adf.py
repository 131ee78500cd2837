"""Tiny builders for Atlassian Document Format, the JSON Jira v3 takes for descriptions and comments.

doc(heading("Offboarded"), paragraph("User ", strong("jdoe"), " was deactivated."),
    table(["Group", "Result"], [["Engineering", "removed"]]))
"""

from __future__ import annotations

from typing import Any

Node = dict[str, Any]
Inline = Node | str


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
