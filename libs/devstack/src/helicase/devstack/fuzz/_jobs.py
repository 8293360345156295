"""A batch of fuzz requests (pure: generation only): for every public RPC, requests generated
from its descriptor and garbage bytes, each to be sent over gRPC or, for a share of them, over
the HTTP port (Connect, JSON), by one of the run's identities in turn."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from google.protobuf import json_format, message
from hypothesis import strategies as st

from helicase.devstack.fuzz._findings import REQUEST_SHOWN, truncate
from helicase.devstack.fuzz._hostile import HOSTILE_TEXT, Budget
from helicase.devstack.fuzz._messages import MessageStrategies, sample
from helicase.devstack.fuzz._rawbytes import corrupt, garbage
from helicase.devstack.fuzz._rpcs import Rpc


@dataclass(frozen=True)
class Job:
    rpc: Rpc
    way: str  # "grpc", "raw" (garbage over gRPC) or "connect"
    payload: bytes  # the serialized request, garbage, or the Connect body
    request: message.Message | bytes  # what was generated
    identity: str

    def shown(self) -> str:
        """What a finding shows of the request (the start of it)."""
        return truncate(repr(self.request), REQUEST_SHOWN)


@dataclass(frozen=True)
class Mix:
    """How a batch is made: `raw_share` of each method's requests are garbage bytes,
    `connect_share` go over the HTTP port instead of gRPC (for the methods it serves);
    `fresh_share` of the generated requests come from Hypothesis, the others are splices of
    two of those (each field from one or the other: cheap, and as hostile)."""

    raw_share: float = 0.2
    connect_share: float = 0.1
    fresh_share: float = 0.35


def json_body(msg: message.Message) -> bytes:
    """`msg` as Connect's JSON; a message JSON cannot hold (a Timestamp past year 9999, say)
    goes as its fields' raw JSON-ish text, which the gateway must refuse cleanly."""
    try:
        return json_format.MessageToJson(msg, indent=None).encode()
    except (ValueError, TypeError, json_format.Error):
        return str(msg).encode()


def garbage_strategy(budget: Budget) -> st.SearchStrategy[bytes]:
    """Garbage bytes: wire-format traps, or text that is no message at all."""
    garbage_json = st.sampled_from(
        [b"{", b"[]", b"null", b'{"a":' * 200, *(t.encode() for t in HOSTILE_TEXT)]
    )
    return st.one_of(garbage(budget), garbage_json)


def corrupted(requests: Sequence[bytes], count: int, rng: random.Random) -> list[bytes]:
    """`count` of `requests` (serialized) with a byte changed and the end cut off."""
    return [
        corrupt(
            rng.choice(requests),
            rng.randrange(2**16),
            rng.randrange(256),
            rng.randrange(4),
        )
        for _ in range(count if requests else 0)
    ]


def splice(first: message.Message, second: message.Message, rng: random.Random) -> message.Message:
    """A message of the pair's type with each field set in either taken from one of them."""
    out = type(first)()
    names = {d.name for d, _ in first.ListFields()} | {d.name for d, _ in second.ListFields()}
    for name in sorted(names):
        source = first if rng.random() < 0.5 else second
        desc = source.DESCRIPTOR.fields_by_name[name]
        if desc.is_repeated or desc.message_type is not None:
            if desc.is_repeated or source.HasField(name):
                # Merging copies through the wire format: a field protobuf cannot encode (a
                # Struct nested past its depth limit) is left out of the splice.
                with contextlib.suppress(message.EncodeError, message.DecodeError):
                    getattr(out, name).MergeFrom(getattr(source, name))
        else:
            setattr(out, name, getattr(source, name))
    return out


Encoded = tuple[message.Message, bytes]
"""A generated request and its serialization (made once: admitting it needs its size)."""


def generated(
    rpc: Rpc, messages: MessageStrategies, count: int, seed: int, fresh_share: float
) -> list[Encoded]:
    """`count` requests of `rpc` (fewer when some are left out): fresh from Hypothesis, then
    splices of those, within METHOD_BYTES (see _Admit)."""
    fresh_count = max(1, min(count, math.ceil(count * fresh_share)))
    admit = _Admit()
    drawn = sample(messages.of(rpc.request.DESCRIPTOR), fresh_count, seed)
    fresh = [encoded for m in drawn if (encoded := admit(m)) is not None]
    if not fresh:
        return []
    rng = random.Random(seed)
    # One splice at a time: made all at once, a batch's splices of big requests held tens of GiB.
    spliced = (
        splice(rng.choice(fresh)[0], rng.choice(fresh)[0], rng) for _ in range(count - len(fresh))
    )
    return [*fresh, *(encoded for m in spliced if (encoded := admit(m)) is not None)]


# Bigger requests are all refused alike by gRPC's message limit (16 MiB); kept, they held the
# fuzzer's memory: a 100,000-request run was killed by the kernel at 22 GiB in its 14th batch.
MAX_REQUEST_BYTES = 17 * 2**20
METHOD_BYTES = 40 * 2**20
"""Bytes of requests one method gets per batch, beyond small ones (SMALL_BYTES): with 43
methods, a batch holds at most about 1.7 GiB of them (another seed's batches of near-17 MiB
requests and their splices got the fuzzer killed at 23 GiB)."""
SMALL_BYTES = 64 * 2**10


class _Admit:
    """Which generated requests go into a batch: those protobuf can encode (one it refused,
    EncodeError, ended a 100,000-request run: no client can send it), of at most
    MAX_REQUEST_BYTES, and big ones only while the method's METHOD_BYTES last."""

    def __init__(self) -> None:
        self.used = 0

    def __call__(self, msg: message.Message) -> Encoded | None:
        """`msg` with its bytes when it goes in, else None."""
        try:
            data = msg.SerializeToString()
        except message.EncodeError:
            return None
        size = len(data)
        if size > MAX_REQUEST_BYTES:
            return None
        if size > SMALL_BYTES and self.used + size > METHOD_BYTES:
            return None
        self.used += size
        return msg, data


def batch(
    rpcs: Sequence[Rpc],
    messages: MessageStrategies,
    identities: Sequence[str],
    count: int,
    seed: int,
    mix: Mix | None = None,
    connect_paths: Collection[str] | None = None,
) -> list[Job]:
    """About `count` jobs spread evenly over `rpcs`; each request generated is sent once by
    each of `identities` (the same bytes meet each role's path). `connect_paths`: the methods
    the HTTP port serves (None: all)."""
    mix = mix or Mix()
    per_method = max(1, math.ceil(count / len(rpcs) / len(identities)))
    raw_count = round(per_method * mix.raw_share)
    generated_count = per_method - raw_count
    connect_every = round(1 / mix.connect_share) if mix.connect_share > 0 else 0
    rng = random.Random(seed)
    # Garbage does not depend on the method: drawn once for the batch, dealt out below.
    garbage_pool = sample(garbage_strategy(messages.budget), len(rpcs) * raw_count, seed)
    jobs: list[Job] = []
    for index, rpc in enumerate(rpcs):
        requests = generated(rpc, messages, generated_count, seed + index, mix.fresh_share)
        dealt = garbage_pool[index * raw_count : index * raw_count + raw_count // 2]
        serialized = [data for _, data in requests]
        raws: list[bytes] = [*dealt, *corrupted(serialized, raw_count - len(dealt), rng)]
        served = connect_paths is None or rpc.path in connect_paths
        items: list[Encoded | bytes] = [*requests, *raws]
        for n, item in enumerate(items):
            over_http = served and connect_every > 0 and n % connect_every == connect_every - 1
            way, payload, request = _travelling(item, over_http=over_http)
            jobs += [Job(rpc, way, payload, request, identity) for identity in identities]
    return jobs


def _travelling(
    item: Encoded | bytes, *, over_http: bool
) -> tuple[str, bytes, message.Message | bytes]:
    """How `item` travels, its bytes (shared by every identity) and what was generated."""
    if isinstance(item, tuple):
        msg, data = item
        return ("connect", json_body(msg), msg) if over_http else ("grpc", data, msg)
    return ("connect" if over_http else "raw"), item, item
