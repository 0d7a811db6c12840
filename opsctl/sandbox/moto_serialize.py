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


def uninstall() -> None:
    """moto as released again (tests compare the two)."""
    from moto.core import serialize

    if not getattr(serialize.AttributePicker, "_sandbox_cached", False):
        return
    for cls in (serialize.AttributePicker, serialize.XFormedAttributePicker):
        cls.get_possible_keys = cls.__dict__["_sandbox_original_get_possible_keys"]
    serialize.AttributePicker._sandbox_cached = False
