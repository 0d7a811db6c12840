"""moto's response serializer, with its attribute-name lookups remembered: how moto runs, never what it answers.

moto 5.2 writes every response through one generic serializer (`moto.core.serialize`). For each member of each
structure in a response it asks six alias providers which attribute names of the Python object may hold the
member (`AttributePicker.get_possible_keys`), building a provider object per question. The answer depends only on
the object's class (its `Meta.serialization_aliases`, its class name), the member's botocore shape, that shape's
parent structure and the member's name, never on the values. A Query page of 120 ten-metric rollups asked it
~1,000,000 times: 32 s of a 92 s unit test under cProfile (tests/functions/test_api_rollups.py), and the same
work on every response the sandbox's server writes.

`install()` remembers the answer per (picker class, providers, object class, shape, parent, name). The shape and
parent are held by the cache, so an id can never be reused for another shape while its entry lives. Objects that
carry a `Meta` of their own (an instance attribute, not the class's) are never cached. The answers are compared
with moto's own in tests/opsctl/test_moto_serialize.py (real responses of DynamoDB, SQS, Kinesis, IAM, Lambda)."""

from __future__ import annotations

from typing import Any

_MISSING = object()


def install() -> None:
    """Patches moto's attribute pickers to remember their candidate names (idempotent)."""
    from moto.core import serialize

    install_attribute_values()
    picker = serialize.AttributePicker
    if getattr(picker, "_sandbox_cached", False):
        return
    cache: dict[tuple, tuple[Any, Any, tuple[str, ...]]] = {}

    def cached(owner, original):
        def get_possible_keys(self, context):
            obj = context.obj
            if "Meta" in getattr(obj, "__dict__", ()):
                yield from original(self, context)
                return
            shape = context.shape
            parent = getattr(shape, "parent", None)
            key = (
                owner,  # XFormedAttributePicker's method calls the base's through super(): one entry each
                type(self),
                tuple(self.alias_providers),
                type(obj),
                id(shape),
                id(parent),
                context.key,
            )
            hit = cache.get(key, _MISSING)
            if hit is not _MISSING and hit[0] is shape and hit[1] is parent:  # type: ignore[index]
                yield from hit[2]  # type: ignore[index]
                return
            keys = tuple(original(self, context))
            cache[key] = (shape, parent, keys)
            yield from keys

        return get_possible_keys

    for cls in (serialize.AttributePicker, serialize.XFormedAttributePicker):
        original = cls.__dict__["get_possible_keys"]
        cls._sandbox_original_get_possible_keys = original
        cls.get_possible_keys = cached(cls, original)
    picker._sandbox_cached = True


class _Generic(Exception):
    """An attribute value the fast path leaves to moto's serializer."""


_STRINGS = frozenset(("S", "N"))
_STRING_SETS = frozenset(("SS", "NS"))
_BOOLEANS = frozenset(("NULL", "BOOL"))


def _attribute_value(value: Any) -> dict:
    """A DynamoDB AttributeValue as moto's JSON serializer writes it, for the plain shapes moto's items hold: one
    type key, S/N a str, SS/NS a list of str, M/L of attribute values, NULL/BOOL a bool. Anything else (B and BS
    are base64 work, and odd values keep moto's own handling) raises _Generic."""
    if type(value) is not dict or len(value) != 1:
        raise _Generic
    ((kind, inner),) = value.items()
    if kind in _STRINGS and type(inner) is str:
        return {kind: inner}
    if kind == "M" and type(inner) is dict:
        return {"M": {k: _attribute_value(v) for k, v in inner.items()}}
    if kind == "L" and type(inner) is list:
        return {"L": [_attribute_value(v) for v in inner]}
    if kind in _STRING_SETS and type(inner) is list and inner and all(type(v) is str for v in inner):
        return {kind: list(inner)}
    if kind in _BOOLEANS and type(inner) is bool:
        return {kind: inner}
    raise _Generic


def _is_dynamodb_attribute_value(serializer, shape) -> bool:
    return shape.name == "AttributeValue" and serializer.operation_model.service_model.endpoint_prefix == "dynamodb"


def install_attribute_values() -> None:
    """Patches moto's JSON serializer to write DynamoDB attribute values (each item's attributes, nested maps and
    lists) directly, as `_attribute_value` does, instead of asking for each of AttributeValue's ten members of every
    value through the attribute pickers: a Query page of 100 readings with four metrics each has ~1,000 of them.
    The same JSON: moto writes a value's one type key; the values it would treat otherwise go to its own code
    (idempotent)."""
    from moto.core import serialize

    cls = serialize.BaseJSONSerializer
    if getattr(cls, "_sandbox_attribute_values", False):
        return
    structure, mapping = cls.__dict__["_serialize_type_structure"], cls.__dict__["_serialize_type_map"]

    def _serialize_type_structure(self, serialized, value, shape, key):
        if key and _is_dynamodb_attribute_value(self, shape):
            try:
                fast = _attribute_value(value)
            except _Generic:
                pass
            else:
                self._default_serialize(serialized, fast, shape, key)
                return
        structure(self, serialized, value, shape, key)

    def _serialize_type_map(self, serialized, value, shape, key):
        if type(value) is dict and _is_dynamodb_attribute_value(self, shape.value):
            try:
                fast = {k: _attribute_value(v) for k, v in value.items()}
            except _Generic:
                pass
            else:
                self._default_serialize(serialized, fast, shape, key)
                return
        mapping(self, serialized, value, shape, key)

    cls._sandbox_original_structure, cls._sandbox_original_map = structure, mapping
    cls._serialize_type_structure = _serialize_type_structure
    cls._serialize_type_map = _serialize_type_map
    cls._sandbox_attribute_values = True


def uninstall() -> None:
    """moto as released again (tests compare the two)."""
    from moto.core import serialize

    json_cls = serialize.BaseJSONSerializer
    if getattr(json_cls, "_sandbox_attribute_values", False):
        json_cls._serialize_type_structure = json_cls.__dict__["_sandbox_original_structure"]
        json_cls._serialize_type_map = json_cls.__dict__["_sandbox_original_map"]
        json_cls._sandbox_attribute_values = False
    if not getattr(serialize.AttributePicker, "_sandbox_cached", False):
        return
    for cls in (serialize.AttributePicker, serialize.XFormedAttributePicker):
        cls.get_possible_keys = cls.__dict__["_sandbox_original_get_possible_keys"]
    serialize.AttributePicker._sandbox_cached = False
