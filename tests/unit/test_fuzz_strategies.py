"""The fuzzer's pure parts (helicase.devstack.fuzz): every public RPC is found in the
descriptors, requests are generated from them with hostile values, garbage bytes do not parse,
and the tally tells findings (UNKNOWN, INTERNAL) apart from known ones."""

from __future__ import annotations

import importlib
import pkgutil
import random

import pytest
from google.protobuf import message, struct_pb2

import helicase.v1
from helicase.devstack.fuzz import Budget, KnownFinding, Pools, Tally
from helicase.devstack.fuzz._findings import connect_code
from helicase.devstack.fuzz._health import exits, growth, unlevelled
from helicase.devstack.fuzz._jobs import Mix, batch, splice
from helicase.devstack.fuzz._messages import COPIED_BYTES, MessageStrategies, build, sample
from helicase.devstack.fuzz._rawbytes import TRAPS, nested, varint
from helicase.devstack.fuzz._rpcs import public_rpcs
from helicase.v1 import admin_pb2, workflow_pb2, workflow_service_pb2

SMALL = Budget(huge=2_000, huge_one_in=5, many=20, depth=8)


def test_every_method_of_every_public_service_is_found() -> None:
    expected = set()
    for info in pkgutil.iter_modules(helicase.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"helicase.v1.{info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                expected |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    rpcs = {rpc.path: rpc for rpc in public_rpcs()}
    assert set(rpcs) == expected
    create = rpcs["/helicase.v1.WorkflowService/CreateWorkflow"]
    assert create.request is workflow_service_pb2.CreateWorkflowRequest
    assert rpcs["/helicase.v1.WorkflowService/WatchWorkflow"].server_streaming


def _strings(msg: message.Message) -> list[str]:
    out = []
    for desc, value in msg.ListFields():
        is_map = desc.message_type is not None and desc.message_type.GetOptions().map_entry
        values = list(value.values()) + list(value) if is_map else value
        for item in values if desc.is_repeated else [value]:
            if isinstance(item, message.Message):
                out += _strings(item)
            elif isinstance(item, str):
                out.append(item)
    return out


def test_generated_requests_carry_hostile_values_and_the_pools_ids() -> None:
    strategies = MessageStrategies(SMALL, Pools(ids=("wf-existing",)))
    made = sample(strategies.of(workflow_service_pb2.CreateWorkflowRequest.DESCRIPTOR), 60, 7)
    assert len(made) >= 50
    assert all(isinstance(m, workflow_service_pb2.CreateWorkflowRequest) for m in made)
    texts = [text for m in made for text in _strings(m)]
    assert any("\x00" in text for text in texts)
    assert any(len(text) >= SMALL.huge for text in texts)
    assert any(text.startswith("wf-existing") for text in texts)
    tasks = [len(m.workflow.tasks) for m in made]
    assert max(tasks) > 5  # "many repeated items"
    policies = {m.workflow.failure_policy for m in made}
    assert any(p not in (0, 1, 2) for p in policies)  # unknown enum numbers
    for m in made:
        m.SerializeToString()  # each one can be sent


def test_struct_params_nest_as_deep_as_the_budget() -> None:
    strategies = MessageStrategies(SMALL, Pools())
    structs = sample(strategies.of(struct_pb2.Struct.DESCRIPTOR), 60, 3)

    def depth(value: struct_pb2.Value) -> int:
        kind = value.WhichOneof("kind")
        if kind == "struct_value":
            return 1 + max((depth(v) for v in value.struct_value.fields.values()), default=0)
        if kind == "list_value":
            return 1 + max((depth(v) for v in value.list_value.values), default=0)
        return 0

    deepest = max(max((depth(v) for v in s.fields.values()), default=0) for s in structs)
    assert deepest >= SMALL.depth


def test_int64_and_duration_extremes_are_generated() -> None:
    strategies = MessageStrategies(SMALL, Pools())
    keys = sample(strategies.of(admin_pb2.CreateApiKeyRequest.DESCRIPTOR), 100, 5)
    seconds = {k.ttl.seconds for k in keys if k.HasField("ttl")}
    assert {2**63 - 1, -(2**63)} & seconds


def test_garbage_bytes_do_not_parse_as_a_request() -> None:
    assert varint(300) == b"\xac\x02"
    with pytest.raises(message.DecodeError):
        workflow_service_pb2.GetWorkflowRequest.FromString(nested(150))
    refused = 0
    for trap in TRAPS:
        try:
            workflow_service_pb2.GetWorkflowRequest.FromString(trap)
        except message.DecodeError:
            refused += 1
    assert refused >= len(TRAPS) // 2


def test_a_batch_covers_every_method_each_identity_and_each_way() -> None:
    rpcs = public_rpcs()
    strategies = MessageStrategies(SMALL, Pools())
    jobs = batch(rpcs, strategies, ["admin", "viewer"], len(rpcs) * 10, 1, Mix(0.4, 0.25))
    assert {job.rpc.path for job in jobs} == {rpc.path for rpc in rpcs}
    assert {job.identity for job in jobs} == {"admin", "viewer"}
    assert {job.way for job in jobs} == {"grpc", "raw", "connect"}
    assert len(jobs) >= len(rpcs) * 10


def test_unknown_and_internal_answers_are_findings_known_ones_apart() -> None:
    known = KnownFinding("W/List", "cannot be converted", owner="pages", issue="NUL")
    tally = Tally(known=(known,))
    tally.record("W/Get", "grpc", "NOT_FOUND", "no such workflow", lambda: "id: 'x'")
    tally.record("W/Get", "grpc", "UNKNOWN", "Unexpected OverflowError: 12", lambda: "a")
    tally.record("W/Get", "grpc", "UNKNOWN", "Unexpected OverflowError: 99", lambda: "b")
    tally.record("W/List", "grpc", "UNKNOWN", "\\u0000 cannot be converted to text", lambda: "c")
    tally.record("W/Cancel", "cleanup", "OK", "", lambda: "")
    assert tally.total == 4
    assert [(f.method, f.request) for f in tally.new_findings()] == [("W/Get", "a")]
    assert [f.method for f in tally.known_findings()] == ["W/List"]
    assert "(2x) W/Get [grpc] UNKNOWN" in tally.render()


def test_connect_answers_map_to_grpc_codes() -> None:
    assert connect_code(200, None) == "OK"
    assert connect_code(400, "invalid_argument") == "INVALID_ARGUMENT"
    assert connect_code(500, None) == "INTERNAL"
    assert connect_code(503, None) == "UNAVAILABLE"
    assert connect_code(415, None) == "HTTP_415"


def test_a_process_that_changed_pid_or_stopped_has_exited() -> None:
    before = {"api": 10, "sink": 11, "idle": None}
    assert exits(before, {"api": 10, "sink": 12, "idle": None}) == ["sink (pid 11 -> 12)"]
    assert exits(before, {"api": None, "sink": 11}) == ["api (pid 10 -> None)"]
    assert growth({"api": 1024}, {"api": 2048}) == [
        "api                1.0 ->     2.0 MiB (+1.0 MiB, +100%)"
    ]


def test_a_splice_leaves_out_a_field_protobuf_cannot_encode() -> None:
    deep = workflow_service_pb2.CreateWorkflowRequest(request_id="deep")
    params = deep.workflow.tasks.add(id="t", type="noop").params
    for _ in range(150):  # past protobuf's nesting limit: merging it raises EncodeError
        params = params.fields["x"].struct_value
    plain = workflow_service_pb2.CreateWorkflowRequest(request_id="plain")
    plain.workflow.display_name = "w"
    for seed in range(20):  # each field comes from either side: both sides are drawn
        out = splice(deep, plain, random.Random(seed))
        assert isinstance(out, workflow_service_pb2.CreateWorkflowRequest)
        assert out.request_id in {"deep", "plain"}
        out.SerializeToString()


def test_memory_is_judged_by_quarters_so_swings_pass_and_a_steady_climb_does_not() -> None:
    mib = 1024

    def batches(values: list[int]) -> list[dict[str, int | None]]:
        return [{"api": v * mib, "gone": None} for v in values]

    assert unlevelled(batches([100, 900] * 3)) == []  # too few batches to judge
    # The api's and the sink's RSS in a 100,000-request run: swings, filling and draining.
    api = [218, 216, 208, 256, 281, 317, 541, 270, 629, 571, 330, 340, 254, 314, 221, 368, 317]
    assert unlevelled(batches([*api, 336, 416, 395])) == []
    sink = [68, 71, 72, 79, 84, 90, 90, 90, 90, 91, 105, 128, 128, 298, 280, 123, 125, 125, 125]
    assert unlevelled(batches([*sink, 234])) == []
    seed_4 = [216, 382, 349, 237, 306, 313, 328, 700, 381, 362, 471, 363, 463, 433, 414, 437]
    assert unlevelled(batches([*seed_4, 389, 374, 746, 474])) == []
    small_leak = [69 + 7 * i for i in range(20)]  # 69 -> 202 MiB: within the swings' margin
    assert unlevelled(batches(small_leak)) == []
    leak = [69 + 20 * i for i in range(20)]  # 69 -> 449 MiB
    assert unlevelled(batches(leak)) == ["api: median 209 -> 409 MiB"]


def test_hundreds_of_copies_of_a_huge_value_stop_at_the_copied_bytes() -> None:
    # Nested, such copies grew exponentially as protobuf made them real: the fuzzer was killed
    # at 23 GiB. One field now takes at most COPIED_BYTES of them.
    huge = "x" * 2**20
    labels = build(workflow_pb2.Workflow, {"labels": {f"k{i}": huge for i in range(300)}})
    assert isinstance(labels, workflow_pb2.Workflow)
    assert len(labels.labels) == COPIED_BYTES // 2**20
    task = workflow_pb2.Task(id="x" * 2**20)
    tasks = build(workflow_pb2.Workflow, {"tasks": [task] * 300})
    assert isinstance(tasks, workflow_pb2.Workflow)
    assert 0 < len(tasks.tasks) < 17 and tasks.ByteSize() <= COPIED_BYTES
