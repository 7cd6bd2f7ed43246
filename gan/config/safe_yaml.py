"""Reading YAML text of a config: safe tags only, no repeated keys, a bounded size once aliases are expanded.

``yaml.safe_load`` builds no objects but plain values, yet it accepts two things a config must not
hold: a key given twice (the last one silently wins) and aliases that expand a few hundred bytes
into billions of values (``&a [1, 1]``, ``&b [*a, *a]``, ... : the "billion laughs"). The parsed
value shares the aliased lists, so loading is cheap, but anything that walks it (a check, an error
message's ``repr``) walks the whole expansion. Aliases themselves stay allowed (they are ordinary
YAML for sharing a value); the node graph is measured before any Python value is built, each
node's expanded size computed once and reused at every alias of it (time linear in the file), and a
document past :data:`MAX_CONFIG_VALUES` is refused.
"""
from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from ..errors import ConfigError

MAX_CONFIG_VALUES = 10_000  # keys, values and list items once aliases are expanded; real configs hold a few hundred
MERGE_TAG = "tag:yaml.org,2002:merge"  # the ``<<: *base`` key: merged keys may be overridden, they are not repeats


class _Measure:
    """Walks a composed node graph once per distinct node: expanded sizes, repeated keys, self-reference."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded
        self.open: set[int] = set()  # nodes being measured: meeting one again means it contains itself

    def size(self, node: Node, path: str) -> int:
        """Values in ``node`` with aliases expanded (computed once per node); ``path``: its dotted key and a dot, or ''."""
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            raise ConfigError(f"the value at line {node.start_mark.line + 1} contains an alias (*name) of itself; "
                              "expected plain values")
        self.open.add(key)
        total = 1
        if isinstance(node, MappingNode):
            _check_repeats(node, path)
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node.value, str) else "?"
                total += self.size(key_node, path) + self.size(value_node, f"{path}{name}.")
                self._check(total, path)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                total += self.size(item, path)
                self._check(total, path)
        self.open.discard(key)
        self.sizes[key] = total
        return total

    def _check(self, total: int, path: str) -> None:
        """Refuse once ``total`` passes the limit, naming the key (``path``: its dotted name and a dot) that holds it."""
        if total > self.limit:
            what = f"key '{path[:-1]}'" if path else "the YAML"
            raise ConfigError(f"{what} holds more than {self.limit} values once YAML aliases (*name) are expanded; "
                              "expected a config of plain keys and values (see configs/)")


def _check_repeats(node: MappingNode, path: str) -> None:
    """Refuse a key given twice in one mapping, naming both lines."""
    seen: dict[tuple[str, Any], int] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG or isinstance(key_node, (MappingNode, SequenceNode)):
            continue
        line, key = key_node.start_mark.line + 1, (key_node.tag, key_node.value)
        if key in seen:
            where = f"line {line}" if seen[key] == line else f"lines {seen[key]} and {line}"
            raise ConfigError(f"key '{path}{key_node.value}' appears twice ({where})")
        seen[key] = line


def load_yaml(text: str, limit: int = MAX_CONFIG_VALUES) -> Any:
    """The value of the YAML document ``text`` (safe tags only), or a one-line :class:`ConfigError`.

    Refused, before any value is built: a key repeated within a mapping, an alias that refers to a
    value containing itself, and more than ``limit`` values once aliases are expanded. Other YAML
    errors propagate as ``yaml.YAMLError``.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Measure(limit).size(node, "")
        return loader.construct_document(node)
    except RecursionError:  # the composer and constructor recurse once per nesting level
        raise ConfigError("nested too deeply; expected a config of plain keys and values (see configs/)") from None
    finally:
        loader.dispose()
