"""Breaking changes between two OpenAPI 3.x documents, as seen by an existing client.

A change is breaking when a request or response that worked against ``old`` can fail
against ``new``. Reported:

- an operation (path + method) removed, or its ``operationId`` changed;
- a documented 2xx status removed, or a media type of one;
- a success response property removed, or no longer ``required``;
- a new required input: a parameter (new or formerly optional), a request body, a request
  body property or form field (new or formerly optional);
- a request media type no longer accepted;
- a narrowed input: a parameter's or request property's ``type`` no longer accepting a
  type it did (``integer`` fits in ``number``; compared only when both sides declare a
  type), or a request ``enum`` losing values or appearing where there was none.

Lenient on purpose, so not reported: new operations, new optional inputs, new response
properties, removed inputs, response enums gaining values, response type changes, error
(non-2xx) responses, removed request bodies, and ``description``/``deprecated``/examples.

Schemas are compared after following local ``$ref``s (a cycle stops at its first repeat)
and merging ``allOf`` parts. An ``anyOf``/``oneOf`` offers a property only when every
variant that may be an object has it, and requires it only when each such variant does;
its ``items`` come from its array variants. So a response property present in all old
variants but missing from one new variant is reported, and a ``null`` variant never hides
the properties of an optional object. The walk is breadth first and compares each pair of
subschemas once, so a shared or recursive schema's change is reported at the shortest path
to it, and the cost stays linear in the size of the documents. Path templates match with
parameter names ignored (``/items/{id}`` is ``/items/{item_id}``); path parameters are
matched by position.
"""

import argparse
import json
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

Node = Mapping[str, Any]
Schema = Node
Side = tuple[str, Node, Node]
Parameters = Mapping[tuple[str, str], Node]
Key = tuple[str, str]
T = TypeVar("T")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FORM_MEDIA_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
_TEMPLATE_PARAMETER = re.compile(r"\{([^}]*)\}")


@dataclass(frozen=True)
class Shape:
    """A schema flattened: refs followed, ``allOf`` merged, unions narrowed to common ground."""

    properties: Mapping[str, Schema] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    items: Schema | None = None
    types: frozenset[str] | None = None
    enum: frozenset[str] | None = None  # values as canonical JSON


Expansion = tuple[Shape, Shape, list[tuple[str, Key]]]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _any_of(schemas: Iterable[Schema]) -> Schema:
    unique = list({_canonical(schema): schema for schema in schemas}.values())
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _both(a: T | None, b: T | None, join: Callable[[T, T], T]) -> T | None:
    return b if a is None else a if b is None else join(a, b)


def _union(values: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    result: frozenset[str] = frozenset()
    for value in values:
        if value is None:
            return None
        result |= value
    return result


def _types(node: Schema) -> frozenset[str] | None:
    if "type" not in node:
        return None
    declared = node["type"]
    nullable = {"null"} if node.get("nullable") is True else set()
    return frozenset([declared] if isinstance(declared, str) else declared) | nullable


def _own_shape(node: Schema) -> Shape:
    types = _types(node)
    enum = frozenset(map(_canonical, node["enum"])) if "enum" in node else None
    if "const" in node:
        enum = frozenset({_canonical(node["const"])})
    if enum is None and types == frozenset({"null"}):
        enum = frozenset({"null"})
    items = node.get("items")
    return Shape(
        properties=dict(node.get("properties") or {}),
        required=frozenset(node.get("required") or ()),
        items=items if isinstance(items, Mapping) else None,
        types=types,
        enum=enum,
    )


def _merge(a: Shape, b: Shape) -> Shape:
    properties = dict(a.properties)
    for name, schema in b.properties.items():
        properties[name] = {"allOf": [properties[name], schema]} if name in properties else schema
    return Shape(
        properties=properties,
        required=a.required | b.required,
        items=_both(a.items, b.items, lambda x, y: {"allOf": [x, y]}),
        types=_both(a.types, b.types, frozenset.intersection),
        enum=_both(a.enum, b.enum, frozenset.intersection),
    )


def _may_be(shape: Shape, kind: str) -> bool:
    if shape.types is None:
        return shape.enum is None
    return kind in shape.types


def _without_null(shape: Shape) -> Shape:
    """A parameter is absent rather than null, so ``null`` is not a value it can lose."""
    types = None if shape.types is None else shape.types - {"null"}
    return replace(shape, types=types, enum=None if shape.enum is None else shape.enum - {"null"})


def _unite(variants: Sequence[Shape]) -> Shape:
    objects = [variant for variant in variants if _may_be(variant, "object")]
    names = set.intersection(*(set(v.properties) for v in objects)) if objects else set()
    arrays = [variant for variant in variants if _may_be(variant, "array")]
    items = [variant.items for variant in arrays if variant.items is not None]
    return Shape(
        properties={name: _any_of(v.properties[name] for v in objects) for name in sorted(names)},
        required=frozenset.intersection(*(v.required for v in objects)) if objects else frozenset(),
        items=_any_of(items) if arrays and len(items) == len(arrays) else None,
        types=_union(variant.types for variant in variants),
        enum=_union(variant.enum for variant in variants),
    )


class _Document:
    def __init__(self, spec: Node) -> None:
        self.spec = spec

    def lookup(self, ref: str) -> Node:
        node: Any = self.spec if ref.startswith("#/") else None
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, Mapping) else None
        return node if isinstance(node, Mapping) else {}

    def deref(self, node: Any) -> Node:
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(ref := node.get("$ref"), str):
            if ref in seen:
                return {}
            seen.add(ref)
            node = self.lookup(ref)
        return node if isinstance(node, Mapping) else {}

    def shape(self, node: Schema, resolving: frozenset[str] = frozenset()) -> Shape:
        ref = node.get("$ref")
        if isinstance(ref, str):
            return Shape() if ref in resolving else self.shape(self.lookup(ref), resolving | {ref})
        result = _own_shape(node)
        for part in node.get("allOf") or ():
            result = _merge(result, self.shape(part, resolving))
        for keyword in ("anyOf", "oneOf"):
            if variants := node.get(keyword):
                result = _merge(result, _unite([self.shape(v, resolving) for v in variants]))
        return result

    def paths(self) -> dict[str, tuple[str, Node]]:
        paths = self.spec.get("paths") or {}
        return {
            _TEMPLATE_PARAMETER.sub("{}", p): (p, self.deref(item)) for p, item in paths.items()
        }

    def parameters(self, template: str, item: Node, operation: Node) -> dict[tuple[str, str], Node]:
        positions = {name: f"#{i}" for i, name in enumerate(_TEMPLATE_PARAMETER.findall(template))}
        result: dict[tuple[str, str], Node] = {}
        for raw in (*(item.get("parameters") or ()), *(operation.get("parameters") or ())):
            parameter = self.deref(raw)
            location, name = str(parameter.get("in")), str(parameter.get("name"))
            if location == "path":
                name = positions.get(name, name)
            result[location, name.lower() if location == "header" else name] = parameter
        return result


def _narrowing(old: Shape, new: Shape) -> Iterator[str]:
    if old.types is not None and new.types is not None:
        accepted = new.types | ({"integer"} if "number" in new.types else set())
        if not old.types <= accepted:
            old_types, new_types = "|".join(sorted(old.types)), "|".join(sorted(new.types))
            yield f"type narrowed from {old_types} to {new_types}"
    if new.enum is not None and old.enum is None:
        yield f"now restricted to enum {', '.join(sorted(new.enum))}"
    elif new.enum is not None and old.enum is not None and (lost := old.enum - new.enum):
        yield f"enum lost {', '.join(sorted(lost))}"


def _child(path: str, step: str) -> str:
    return f"{path}{step}" if step == "[]" or not path else f"{path}.{step}"


def _schemas(content: Any) -> dict[str, Schema]:
    media_types = content if isinstance(content, Mapping) else {}
    return {media_type: media.get("schema") or {} for media_type, media in media_types.items()}


class _Comparison:
    def __init__(self, old: Node, new: Node) -> None:
        self.old, self.new = _Document(old), _Document(new)
        self.pairs: dict[Key, tuple[Schema, Schema]] = {}
        self.expansions: dict[Key, Expansion] = {}

    def run(self) -> Iterator[str]:
        new_paths = self.new.paths()
        for key, (path, old_item) in self.old.paths().items():
            new_path, new_item = new_paths.get(key, (path, {}))
            for method in METHODS:
                old_operation, new_operation = old_item.get(method), new_item.get(method)
                where = f"{method.upper()} {path}"
                if isinstance(old_operation, Mapping) and not isinstance(new_operation, Mapping):
                    yield f"{where}: operation removed"
                elif isinstance(old_operation, Mapping) and isinstance(new_operation, Mapping):
                    old_side = (path, old_item, old_operation)
                    yield from self.operation(where, old_side, (new_path, new_item, new_operation))

    def operation(self, where: str, old: Side, new: Side) -> Iterator[str]:
        old_operation, new_operation = old[2], new[2]
        old_id, new_id = old_operation.get("operationId"), new_operation.get("operationId")
        if old_id is not None and old_id != new_id:
            yield f"{where}: operationId changed from {old_id!r} to {new_id!r}"
        yield from self.parameters(where, self.old.parameters(*old), self.new.parameters(*new))
        old_body = self.old.deref(old_operation.get("requestBody"))
        new_body = self.new.deref(new_operation.get("requestBody"))
        yield from self.request_body(where, old_body, new_body)
        new_responses = {
            str(code): raw for code, raw in (new_operation.get("responses") or {}).items()
        }
        for code, raw in (old_operation.get("responses") or {}).items():
            if str(code).startswith("2"):
                yield from self.response(f"{where}: {code}", raw, new_responses.get(str(code)))

    def parameters(self, where: str, old: Parameters, new: Parameters) -> Iterator[str]:
        for key, parameter in new.items():
            label = f"{key[0]} parameter {parameter.get('name')!r}"
            previous = old.get(key)
            if parameter.get("required") and previous is None:
                yield f"{where}: new required {label}"
            elif parameter.get("required") and not (previous or {}).get("required"):
                yield f"{where}: {label} became required"
            if previous is not None and "schema" in previous and "schema" in parameter:
                old_shape = _without_null(self.old.shape(previous["schema"]))
                changes = _narrowing(old_shape, _without_null(self.new.shape(parameter["schema"])))
                yield from (f"{where}: {label} {change}" for change in changes)

    def request_body(self, where: str, old: Node, new: Node) -> Iterator[str]:
        if new.get("required") and not old.get("required"):
            yield f"{where}: request body {'became' if old else 'is now'} required"
        old_schemas, new_schemas = _schemas(old.get("content")), _schemas(new.get("content"))
        removed = old_schemas.keys() - new_schemas.keys() if new else set()
        for media_type in removed:
            yield f"{where}: request media type {media_type} no longer accepted"
        for media_type in old_schemas.keys() & new_schemas.keys():
            noun = "form field" if media_type in FORM_MEDIA_TYPES else "request property"
            walk = self.walk(old_schemas[media_type], new_schemas[media_type])
            for path, old_shape, new_shape in walk:
                label = f"{noun} {path!r}" if path else "request body"
                for change in _narrowing(old_shape, new_shape):
                    yield f"{where}: {media_type} {label} {change}"
                for name in new_shape.required - old_shape.required:
                    how = (
                        "became required" if name in old_shape.properties else "is new and required"
                    )
                    yield f"{where}: {media_type} {noun} {_child(path, name)!r} {how}"

    def response(self, where: str, old_raw: Any, new_raw: Any) -> Iterator[str]:
        if new_raw is None:
            yield f"{where} response removed"
            return
        old_schemas = _schemas(self.old.deref(old_raw).get("content"))
        new_schemas = _schemas(self.new.deref(new_raw).get("content"))
        for media_type in old_schemas.keys() - new_schemas.keys():
            yield f"{where} response media type {media_type} removed"
        for media_type in old_schemas.keys() & new_schemas.keys():
            for path, old_shape, new_shape in self.walk(
                old_schemas[media_type], new_schemas[media_type]
            ):
                label = f"{where} {media_type} response property"
                for name in old_shape.properties.keys() - new_shape.properties.keys():
                    yield f"{label} {_child(path, name)!r} removed"
                for name in (old_shape.required - new_shape.required) & new_shape.properties.keys():
                    yield f"{label} {_child(path, name)!r} no longer required"

    def pair(self, old: Schema, new: Schema) -> Key:
        key = (_canonical(old), _canonical(new))
        self.pairs.setdefault(key, (old, new))
        return key

    def expand(self, key: Key) -> Expansion:
        if key not in self.expansions:
            old, new = self.pairs[key]
            old_shape, new_shape = self.old.shape(old), self.new.shape(new)
            steps = [
                (name, self.pair(old_shape.properties[name], new_shape.properties[name]))
                for name in sorted(old_shape.properties.keys() & new_shape.properties.keys())
            ]
            if old_shape.items is not None and new_shape.items is not None:
                steps.append(("[]", self.pair(old_shape.items, new_shape.items)))
            self.expansions[key] = (old_shape, new_shape, steps)
        return self.expansions[key]

    def walk(self, old: Schema, new: Schema) -> Iterator[tuple[str, Shape, Shape]]:
        """Both schemas node by node, breadth first, each pair of subschemas once."""
        queue = deque([("", self.pair(old, new))])
        seen: set[Key] = set()
        while queue:
            path, key = queue.popleft()
            if key not in seen:
                seen.add(key)
                old_shape, new_shape, steps = self.expand(key)
                yield path, old_shape, new_shape
                queue.extend((_child(path, step), child) for step, child in steps)


def breaking_changes(old: Node, new: Node) -> list[str]:
    """Every change from ``old`` to ``new`` that can break an existing client, sorted."""
    return sorted(set(_Comparison(old, new).run()))


def _load(path: Path) -> Node:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise SystemExit(f"{path}: not an OpenAPI document")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m storefront.kit.openapi_diff",
        description="List the breaking changes from OLD to NEW (OpenAPI JSON); exit 1 if any.",
    )
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    arguments = parser.parse_args(argv)
    changes = breaking_changes(_load(arguments.old), _load(arguments.new))
    for change in changes:
        sys.stderr.write(f"{change}\n")
    return 1 if changes else 0


if __name__ == "__main__":
    raise SystemExit(main())
