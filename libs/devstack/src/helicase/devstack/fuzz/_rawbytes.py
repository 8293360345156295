"""Garbage as a serialized request (pure): random bytes, and wire-format traps a real parser
must refuse or survive: truncated lengths, lengths claiming gigabytes, invalid UTF-8 in a string
field, wrong wire types, unknown fields, groups, nesting past protobuf's depth limit."""

from __future__ import annotations

from google.protobuf import wrappers_pb2
from hypothesis import strategies as st

from helicase.devstack.fuzz._hostile import Budget, rarely


def varint(value: int) -> bytes:
    """`value` (0..2**64-1) as a protobuf varint, as protobuf itself writes it (after the tag
    byte of a UInt64Value's field 1; a 0 is not written at all)."""
    return wrappers_pb2.UInt64Value(value=value).SerializeToString()[1:] or b"\x00"


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def nested(depth: int, number: int = 1) -> bytes:
    """Field `number` holding itself `depth` times: past 100, protobuf refuses to parse it."""
    out = b""
    for _ in range(depth):
        out = length_delimited(number, out)
    return out


TRAPS: tuple[bytes, ...] = (
    b"",
    b"\x00",
    b"\x0a",  # a tag, then nothing
    b"\x0a\x05ab",  # a length longer than what follows
    b"\x0a\xff\xff\xff\xff\x0f",  # a length of 4 GiB
    b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a 10-byte varint length
    b"\x0a\x02\xff\xfe",  # invalid UTF-8 in field 1
    b"\x0a\x03\xed\xa0\x80",  # a UTF-16 surrogate in UTF-8
    b"\x08\x96\x01",  # field 1 as a varint (a string is expected)
    b"\x0d\x00\x00\x00\x00",  # field 1 as fixed32
    b"\x0b\x0c",  # an empty group (wire types 3 and 4)
    b"\x0b",  # a group never closed
    b"\x0c",  # a group closed and never opened
    b"\x0f",  # wire type 7: does not exist
    b"\x00\x00\x00",  # field number 0
    tag(2**29 - 1, 0) + b"\x01",  # the largest field number
    tag(1000, 2) + varint(3) + b"abc",  # an unknown field
    b"\x80" * 11,  # a varint that never ends
)


def garbage(budget: Budget) -> st.SearchStrategy[bytes]:
    """Bytes that are not a valid request, or barely are."""
    fields = st.integers(1, 20)
    common = st.one_of(
        st.sampled_from(TRAPS),
        st.binary(max_size=64),
        st.builds(length_delimited, fields, st.binary(max_size=64)),
        st.builds(
            lambda number, value: tag(number, 0) + varint(value), fields, st.integers(0, 2**64 - 1)
        ),
        st.lists(st.sampled_from(TRAPS), min_size=2, max_size=5).map(b"".join),
        st.builds(nested, st.sampled_from([50, 99, 101, 150, 400]), fields),
    )
    huge = st.builds(lambda size: b"\x0a" + varint(size) + b"\xff" * size, st.just(budget.huge))
    return rarely(huge, common, budget.huge_one_in)


def corrupt(valid: bytes, position: int, value: int, cut: int) -> bytes:
    """`valid` with its byte at `position` replaced by `value` and the last `cut` bytes cut."""
    if not valid:
        return bytes([value])
    data = bytearray(valid)
    data[position % len(data)] = value
    return bytes(data[: max(0, len(data) - cut)])
