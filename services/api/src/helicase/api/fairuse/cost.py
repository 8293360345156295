"""What each public call costs from its tenant's request bucket (pure).

A tenant's `requests_per_second` counts request units. Calls differ by orders of magnitude in
the work they cause: a GetWorkflow is one indexed read, while a CreateWorkflow is validated,
stored with its outbox row, launched by the scheduler, run by the controller and a participant,
and each of its events is stored by the sink. Counted alike, a tenant starting workflows at
its rate would saturate a small deployment long before its bucket ran dry (docs/reliability.md,
"The flood measurement"). So each call costs what it sets in motion, by its method's verb:

| calls | units |
|---|---|
| starting work: CreateWorkflow, CreateExperiment | START (20) |
| other writes: Create*, Update*, Delete*, Cancel*, Revoke*, Replay*, Purge*, Set* | WRITE (5) |
| watches: Watch* (a read at once, and again on each change while it is open) | WRITE (5) |
| listings: List* | LIST (2) |
| everything else (Get*) | READ (1) |

and, on top of that, one unit for each whole BYTES_PER_UNIT (64 KiB) of the request as it came
over the wire: the api parses and checks every byte, so a tenant sending near-limit (16 MiB)
requests spends 256 units on each, about one a second at the default rate, instead of ten
(measured: another tenant's latency 3.3x idle under one such caller, docs/reliability.md,
"Large requests at once").
"""

from __future__ import annotations

START = 20
WRITE = 5
LIST = 2
READ = 1

STARTS = frozenset({"CreateWorkflow", "CreateExperiment"})
WRITE_VERBS = (
    "Create",
    "Update",
    "Delete",
    "Cancel",
    "Revoke",
    "Replay",
    "Purge",
    "Rotate",
    "Set",
    "Watch",
)
LIST_VERBS = ("List",)
BYTES_PER_UNIT = 64 * 1024


def cost_of(method: str, request_bytes: int = 0) -> int:
    """The units a call of `method` (a gRPC path, "/helicase.v1.WorkflowService/GetWorkflow",
    or a bare method name) with a request of `request_bytes` takes from its tenant's bucket."""
    return verb_cost(method) + request_bytes // BYTES_PER_UNIT


def verb_cost(method: str) -> int:
    """The units of a call of `method` by its verb alone (the table above)."""
    name = method.rsplit("/", 1)[-1]
    if name in STARTS:
        return START
    if name.startswith(WRITE_VERBS):
        return WRITE
    if name.startswith(LIST_VERBS):
        return LIST
    return READ
