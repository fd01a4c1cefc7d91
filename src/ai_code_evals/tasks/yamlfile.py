"""YAML documents with the line of every value, so errors can point at the line to fix.

PyYAML's composed nodes carry marks; we keep a map from each value's path (``("tests", 0,
"args")``) to its line, refuse duplicate keys (PyYAML silently keeps the last one) and refuse
alias bombs and recursive aliases before anything walks the data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ai_code_evals.core.errors import InputError

Path_ = tuple[Any, ...]

# A document whose aliases expand to more values than this is refused ("billion laughs").
MAX_EXPANDED_VALUES = 1_000_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDoc:
    """One YAML document: its data and the 1-based line of each value path."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """Line of the deepest existing prefix of ``path`` (the document start at worst)."""
        for n in range(len(path), -1, -1):
            got = self.lines.get(tuple(path[:n]))
            if got is not None:
                return got
        return 1


def parse_yaml(text: str, name: str) -> list[YamlDoc]:
    """Parse every document in ``text``. Raises InputError naming ``name`` and the line."""
    loader = _Loader(text)
    docs: list[YamlDoc] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = YamlDoc(data=None)
            _check_size(node, name)
            _index(node, (), doc.lines, set(), name)
            doc.data = loader.construct_document(node)
            docs.append(doc)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = e.problem or "invalid YAML"
        if e.context:
            msg = f"{msg} ({e.context})"
        raise InputError(f"invalid YAML: {msg}", path=name, line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1 if isinstance(e.position, int) else None
        ch = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or "\0")
        raise InputError(
            f"invalid YAML: unacceptable character U+{ch:04X} (control characters are not allowed)",
            path=name,
            line=line,
        ) from None
    except yaml.YAMLError as e:
        raise InputError(f"invalid YAML: {e}", path=name) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", path=name) from None
    finally:
        loader.dispose()
    return docs


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_size(root: yaml.Node, name: str) -> None:
    """Refuse recursive aliases and documents that expand to too many values."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise InputError("recursive YAML alias (a value contains itself)", path=name,
                             line=node.start_mark.line + 1)
        active.add(key)
        total = 1
        for child in _children(node):
            total += size(child)
            if total > MAX_EXPANDED_VALUES:
                raise InputError(
                    f"YAML aliases expand to more than {MAX_EXPANDED_VALUES:,} values", path=name,
                    line=node.start_mark.line + 1,
                )
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


def _index(node: yaml.Node, path: Path_, lines: dict[Path_, int], seen: set[int], name: str) -> None:
    """Record the line of every value reachable from ``node``; each node is entered once."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _index(child, path + (i,), lines, seen, name)
    elif isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            k = key.value
            line = key.start_mark.line + 1
            if k == "<<":
                continue
            if k in first:
                raise InputError(f"duplicate key {k!r} (first at line {first[k]})", path=name, line=line)
            first[k] = line
            lines[path + (k,)] = line
            _index(value, path + (k,), lines, seen, name)
