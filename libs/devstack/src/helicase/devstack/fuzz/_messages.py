"""Hypothesis strategies for any protobuf message, built from its descriptor: every field may be
set or not, each with hostile values of its type (see _hostile); repeated fields and maps get a
few varied items or very many copies of one; google.protobuf.Struct gets wide and deep JSON,
Duration and Timestamp their int64 extremes, enums unknown numbers."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import descriptor, descriptor_pool, message, struct_pb2
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seed_decorator
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning

from helicase.devstack.fuzz._hostile import (
    INT32,
    INT64,
    UINT32,
    UINT64,
    Budget,
    Pools,
    binary,
    floats,
    integers,
    text,
)

FD = descriptor.FieldDescriptor
COPIED_BYTES = 17 * 2**20
"""The most bytes of message copies one map or repeated field of a generated message takes:
hundreds of copies of a value that is itself hundreds of copies, nested, grew exponentially as
CopyFrom made them real (a run's fuzzer reached 23 GiB, the kernel killed it). Requests over
the 16 MiB message limit are all refused alike, so nothing is lost by cutting there."""
JsonValue = Any
_Maker = Callable[[Budget, Pools], st.SearchStrategy[Any]]


def _int_range(field_type: int) -> tuple[int, int]:
    if field_type in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return INT64
    if field_type in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return UINT64
    if field_type in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return UINT32
    return INT32


def json_values(budget: Budget, pools: Pools) -> st.SearchStrategy[JsonValue]:
    """JSON as google.protobuf.Struct holds it: wide trees, and chains nested up to
    `budget.depth` (and past protobuf's parse limit of 100 when the budget allows)."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        floats(),
        integers(*INT64).map(float),
        text(budget, pools),
    )
    keys = st.one_of(st.text(max_size=20), text(budget, pools))
    wide = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=6), st.dictionaries(keys, children, max_size=6)
        ),
        max_leaves=30,
    )
    deep = st.builds(
        _nest,
        st.sampled_from(sorted({2, 10, budget.depth})),
        leaves,
        st.booleans(),
    )
    many = st.builds(
        lambda value, count: {f"k{i}": value for i in range(count)},
        leaves,
        st.sampled_from([budget.many, budget.many * 10]),
    )
    return st.one_of(wide, deep, many)


def _nest(depth: int, leaf: JsonValue, as_list: bool) -> JsonValue:
    value = leaf
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


def _struct(budget: Budget, pools: Pools) -> st.SearchStrategy[message.Message]:
    def build(values: Mapping[str, JsonValue]) -> struct_pb2.Struct:
        out = struct_pb2.Struct()
        out.update(values)
        return out

    keys = st.one_of(st.sampled_from(["seconds", "command", "id", "type"]), text(budget, pools))
    return st.one_of(
        st.dictionaries(keys, json_values(budget, pools), max_size=5).map(build),
        json_values(budget, pools).map(lambda value: build({"v": value})),
    )


def _seconds_nanos(name: str) -> _Maker:
    def make(budget: Budget, pools: Pools) -> st.SearchStrategy[message.Message]:
        cls = GetMessageClass(descriptor_of(name))
        return st.builds(
            lambda seconds, nanos: cls(seconds=seconds, nanos=nanos),
            integers(*INT64),
            integers(*INT32),
        )

    return make


def _field_mask(budget: Budget, pools: Pools) -> st.SearchStrategy[message.Message]:
    cls = GetMessageClass(descriptor_of("google.protobuf.FieldMask"))
    return st.lists(text(budget, pools), max_size=5).map(lambda paths: cls(paths=paths))


def descriptor_of(full_name: str) -> descriptor.Descriptor:
    return descriptor_pool.Default().FindMessageTypeByName(full_name)


WELL_KNOWN: dict[str, _Maker] = {
    "google.protobuf.Struct": _struct,
    "google.protobuf.Duration": _seconds_nanos("google.protobuf.Duration"),
    "google.protobuf.Timestamp": _seconds_nanos("google.protobuf.Timestamp"),
    "google.protobuf.FieldMask": _field_mask,
}


def scalar(
    field: descriptor.FieldDescriptor, budget: Budget, pools: Pools
) -> st.SearchStrategy[Any]:
    """Hostile values of a non-message field's type."""
    kind = field.type
    if kind == FD.TYPE_STRING:
        return text(budget, pools)
    if kind == FD.TYPE_BYTES:
        return binary(budget)
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return floats(width=64 if kind == FD.TYPE_DOUBLE else 32)
    if kind == FD.TYPE_ENUM:
        assert field.enum_type is not None
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), integers(*INT32))
    return integers(*_int_range(kind))


class MessageStrategies:
    """Strategies of messages, one per (type, depth), made on demand."""

    def __init__(self, budget: Budget, pools: Pools) -> None:
        self.budget = budget
        self.pools = pools
        self._made: dict[tuple[str, int], st.SearchStrategy[message.Message]] = {}

    def of(self, desc: Any, depth: int = 0) -> st.SearchStrategy[message.Message]:
        """Messages of type `desc` (at nesting `depth`: past the budget's depth, empty ones)."""
        key = (desc.full_name, depth)
        if key not in self._made:
            self._made[key] = self._make(desc, depth)
        return self._made[key]

    def _make(self, desc: descriptor.Descriptor, depth: int) -> st.SearchStrategy[message.Message]:
        cls = GetMessageClass(desc)
        special = WELL_KNOWN.get(desc.full_name)
        if special is not None:
            return special(self.budget, self.pools)
        if depth >= self.budget.depth:
            return st.just(cls())
        optional = {f.name: self._field(f, depth) for f in desc.fields}
        return st.fixed_dictionaries({}, optional=optional).map(lambda values: build(cls, values))

    def _value(self, field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if field.type == FD.TYPE_MESSAGE:
            return st.deferred(lambda: self.of(message_type(field), depth + 1))
        return scalar(field, self.budget, self.pools)

    def _field(self, field: descriptor.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
        if _is_map(field):
            key_field = message_type(field).fields_by_name["key"]
            value_field = message_type(field).fields_by_name["value"]
            keys = scalar(key_field, self.budget, self.pools)
            values = self._value(value_field, depth)
            return st.one_of(
                st.dictionaries(keys, values, max_size=5),
                st.builds(
                    lambda value, count: {_nth_key(key_field, i): value for i in range(count)},
                    values,
                    st.sampled_from([self.budget.many, self.budget.many * 10]),
                ),
            )
        item = self._value(field, depth)
        if field.is_repeated:
            return st.one_of(
                st.lists(item, max_size=5),
                st.builds(
                    lambda value, count: [value] * count, item, st.integers(6, self.budget.many)
                ),
            )
        return item


def message_type(field: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    """The message type of a message field."""
    assert field.message_type is not None, field.full_name
    return field.message_type


def _is_map(field: descriptor.FieldDescriptor) -> bool:
    return (
        field.type == FD.TYPE_MESSAGE
        and field.is_repeated
        and bool(message_type(field).GetOptions().map_entry)
    )


def _nth_key(key_field: descriptor.FieldDescriptor, index: int) -> Any:
    return f"key{index}" if key_field.type == FD.TYPE_STRING else index


def build(cls: type[message.Message], values: Mapping[str, Any]) -> message.Message:
    """A `cls` with `values` set (by field name): messages copied, repeated fields extended,
    maps updated; a later member of a oneof replaces an earlier one, as on the wire."""
    out = cls()
    for name, value in values.items():
        try:
            _set(out, out.DESCRIPTOR.fields_by_name[name], value)
        except (message.DecodeError, message.EncodeError):
            # Nested past what protobuf itself can copy (either error, by the protobuf build
            # and the nesting): the raw-bytes requests send those.
            out.ClearField(name)
    return out


def _fitting(items: Any) -> int:
    """How many of `items` (messages, strings, bytes or numbers) fit in COPIED_BYTES, in
    order: hundreds of references to one huge string cost nothing until protobuf copies them."""
    spent = 0
    for count, item in enumerate(items):
        if isinstance(item, message.Message):
            spent += item.ByteSize()
        else:
            spent += len(item) if isinstance(item, str | bytes) else 8
        if spent > COPIED_BYTES:
            return count
    return len(items)


def _set(out: message.Message, field: Any, value: Any) -> None:
    name = field.name
    target = getattr(out, name)
    if _is_map(field):
        copies = message_type(field).fields_by_name["value"].type == FD.TYPE_MESSAGE
        items = list(value.items())
        for key, item in items[: _fitting([item for _, item in items])]:
            if copies:
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        target.extend(value[: _fitting(value)])
    elif field.type == FD.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(out, name, value)


def sample(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    """Up to `count` values drawn from `strategy` by Hypothesis's generator (no shrinking, no
    example database; fewer when the strategy has fewer distinct values), reproducible by
    `seed`."""
    out: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HypothesisWarning)
        seed_decorator(seed)(collect)()
    return out
