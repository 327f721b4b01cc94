"""Loading and checking rules files: every problem, with its line and field path.

:func:`check_rules` reports *every* problem of a file (YAML syntax, duplicate keys, unknown
or missing fields, bad values, unknown message placeholders, repeated rule ids, and — when
the caller passes the configured window names — unknown windows), each with the line of
the YAML node it concerns and the dotted path of the field (``rules.2.raise``).
:func:`load_rules` returns the :class:`RuleSet` or raises :class:`RulesError` carrying
those problems. ``blo rules check FILE`` prints :func:`format_problems`.

YAML is read with the YAML 1.2 booleans only (``true``/``false``): PyYAML's default turns
the key ``on:`` into ``True``, and ``on: final`` is a field of every window rule.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from streams.alerts.rules import KINDS, RuleSet

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]  # without types-PyYAML
    """SafeLoader with YAML 1.2 booleans: ``on``/``off``/``yes``/``no`` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of a rules file. ``line`` is 1-based (0: the file as a whole)."""

    file: str
    line: int
    path: str  # dotted field path, '' for the document
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class RulesError(ValueError):
    """A rules file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(format_problems(problems))
        self.problems = problems


def format_problems(problems: list[Problem]) -> str:
    """One line per problem (``FILE:LINE: PATH: MESSAGE``), then a count; '' when none."""
    if not problems:
        return ""
    lines = [str(p) for p in problems]
    n = len(problems)
    lines.append(f"{n} problem{'s' if n != 1 else ''}")
    return "\n".join(lines)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _duplicate_keys(node: Node, path: str) -> Iterator[tuple[int, str, str]]:
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            key = str(k.value) if isinstance(k, ScalarNode) else "?"
            sub = f"{path}.{key}" if path else key
            if key in seen:
                yield _line(k), sub, f"duplicate key (first at line {seen[key]})"
            else:
                seen[key] = _line(k)
            yield from _duplicate_keys(v, sub)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{path}.{i}" if path else str(i))


def _locate(root: Node, loc: tuple[str | int, ...]) -> int:
    """The line of the node at ``loc`` (a mapping key's own line), or of its deepest
    existing ancestor when the field is missing."""
    node, line = root, _line(root)
    for part in loc:
        if isinstance(node, MappingNode):
            for k, v in node.value:
                if isinstance(k, ScalarNode) and k.value == str(part):
                    node, line = v, _line(k)
                    break
            else:
                return line
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = _line(node)
        else:
            return line
    return line


def _error_problems(e: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for err in e.errors():
        loc = tuple(err["loc"])
        # a tagged union puts the rule's kind into the path: rules.0.threshold.raise
        if len(loc) >= 3 and loc[0] == "rules" and loc[2] in KINDS:
            loc = loc[:2] + loc[3:]
        kind, msg = err["type"], err["msg"].removeprefix("Value error, ")
        if kind in ("duplicate_rule_id", "missing_language"):
            continue  # reported per rule, with lines, by _duplicate_ids / _missing_languages
        if kind == "missing":
            msg = "required field is missing"
        elif kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "union_tag_not_found":
            loc, msg = loc + ("kind",), f"required field is missing (one of {', '.join(KINDS)})"
        elif kind == "union_tag_invalid":
            loc, msg = loc + ("kind",), f"must be one of {', '.join(KINDS)}"
        yield loc, msg


def _duplicate_ids(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        return
    first: dict[str, int] = {}
    for i, rule in enumerate(rules):
        rid = rule.get("id") if isinstance(rule, dict) else None
        if not isinstance(rid, str):
            continue
        if rid in first:
            yield ("rules", i, "id"), f"rule id '{rid}' repeats rules.{first[rid]}.id"
        else:
            first[rid] = i


def _missing_languages(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """A rule whose message or name lacks a language the file declares (``languages: [en,
    ru]``), or has one it does not declare."""
    languages = data.get("languages") if isinstance(data, dict) else None
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(languages, list) or not isinstance(rules, list):
        return
    for i, rule in enumerate(rules):
        for field, what in (("message", "template"), ("name", "name")):
            value = rule.get(field) if isinstance(rule, dict) else None
            have = ({"en"} if isinstance(value, str)
                    else set(value) if isinstance(value, dict) else None)
            if have is None:
                continue
            missing = [str(lang) for lang in languages if lang not in have]
            if missing:
                yield ("rules", i, field), (
                    f"no {what} for {', '.join(missing)} (the file declares languages: "
                    f"{', '.join(str(x) for x in languages)})")
            extra = sorted(str(k) for k in have if k not in languages)
            if extra:
                yield ("rules", i, field), (
                    f"language {', '.join(extra)} is not declared in languages")


def _unknown_windows(
    data: Any, windows: Collection[str]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    rules = data.get("rules") if isinstance(data, dict) else None
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        w = rule.get("window") if isinstance(rule, dict) else None
        if isinstance(w, str) and w not in windows:
            yield ("rules", i, "window"), (
                f"unknown window '{w}'; configured: {', '.join(sorted(windows))}")


def _check_text(
    text: str, file: str, windows: Collection[str] | None
) -> tuple[list[Problem], RuleSet | None]:
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = int(mark.line) + 1 if mark is not None else 0
        return [Problem(file, line, "", f"not valid YAML: {e.problem or e}")], None
    except yaml.YAMLError as e:
        return [Problem(file, 0, "", f"not valid YAML: {e}")], None
    if root is None or not isinstance(data, dict):
        return [Problem(file, _line(root) if root is not None else 0, "",
                        "expected a mapping: version: 1, rules: [...]")], None
    found: list[tuple[int, str, str]] = list(_duplicate_keys(root, ""))
    located: list[tuple[tuple[str | int, ...], str]] = list(_duplicate_ids(data))
    located.extend(_missing_languages(data))
    if windows is not None:
        located.extend(_unknown_windows(data, windows))
    ruleset: RuleSet | None = None
    try:
        ruleset = RuleSet.model_validate(data)
    except ValidationError as e:
        located.extend(_error_problems(e))
    for loc, msg in located:
        found.append((_locate(root, loc), ".".join(str(p) for p in loc), msg))
    problems = sorted({Problem(file, line, path, msg) for line, path, msg in found})
    return problems, (ruleset if not problems else None)


def _read(path: Path) -> tuple[str | None, list[Problem]]:
    try:
        return path.read_text(encoding="utf-8"), []
    except (OSError, UnicodeDecodeError) as e:
        return None, [Problem(str(path), 0, "", f"cannot read: {e}")]


def check_rules(path: Path | str, windows: Collection[str] | None = None) -> list[Problem]:
    """Every problem of the rules file at ``path`` (empty: the file is valid).

    ``windows``: the configured window kinds; when given, a rule naming another window is
    a problem. Never raises for a bad file."""
    path = Path(path)
    text, problems = _read(path)
    if text is None:
        return problems
    return _check_text(text, str(path), windows)[0]


def check_rules_text(
    text: str, file: str = "<rules>", windows: Collection[str] | None = None
) -> list[Problem]:
    """:func:`check_rules` for text in memory; ``file`` names it in the problems."""
    return _check_text(text, file, windows)[0]


def parse_rules(
    text: str, file: str = "<rules>", windows: Collection[str] | None = None
) -> RuleSet:
    """The rule set in ``text``; raises :class:`RulesError` with every problem."""
    problems, ruleset = _check_text(text, file, windows)
    if ruleset is None:
        raise RulesError(problems)
    return ruleset


def load_rules(path: Path | str, windows: Collection[str] | None = None) -> RuleSet:
    """The rule set in the YAML file at ``path``; raises :class:`RulesError` (a
    :class:`ValueError`) listing every problem with its line and field."""
    path = Path(path)
    text, problems = _read(path)
    if text is None:
        raise RulesError(problems)
    return parse_rules(text, str(path), windows)
