"""Every ZooKeeper path Helicase uses, in one place.

/helicase/participants/<group>/<name>   ephemeral: a live participant (JSON ParticipantInfo)
/helicase/tasktypes/<type>              persistent: the latest definition of a task type (JSON)
/helicase/controller/election           kazoo Election recipe of the controllers
/helicase/controller/leader             ephemeral: the leader's address and epoch (JSON)
/helicase/controller/epoch              persistent: its version is the current leader epoch
/helicase/controller/workflows/<id>     persistent: compact state of a running workflow (its
                                        existence is "running": ask helicase.common.ownership)
/helicase/controller/definitions/<id>   persistent: its definition, compressed, written once
/helicase/owners/<id>                   ephemeral: the scheduler owning a running workflow
                                        (claimed and released through helicase.common.ownership)
/helicase/schedules/leader              ephemeral: the scheduler that fires schedules (its id)
/helicase/schedules/fired/<id>          persistent: the last cron time a schedule fired for

docs/architecture.md ("Who owns what") names each node's one writer and its readers.
"""

from __future__ import annotations

ROOT = "/helicase"
PARTICIPANTS = f"{ROOT}/participants"
TASK_TYPES = f"{ROOT}/tasktypes"
CONTROLLER = f"{ROOT}/controller"
ELECTION = f"{CONTROLLER}/election"
LEADER = f"{CONTROLLER}/leader"
EPOCH = f"{CONTROLLER}/epoch"
WORKFLOWS = f"{CONTROLLER}/workflows"
DEFINITIONS = f"{CONTROLLER}/definitions"
OWNERS = f"{ROOT}/owners"
SCHEDULES = f"{ROOT}/schedules"
SCHEDULE_LEADER = f"{SCHEDULES}/leader"
SCHEDULES_FIRED = f"{SCHEDULES}/fired"


def participant_group(group: str) -> str:
    return f"{PARTICIPANTS}/{group}"


def participant(group: str, name: str) -> str:
    return f"{PARTICIPANTS}/{group}/{name}"


def task_type(name: str) -> str:
    return f"{TASK_TYPES}/{name}"


def workflow_state(workflow_id: str) -> str:
    return f"{WORKFLOWS}/{workflow_id}"


def workflow_definition(workflow_id: str) -> str:
    return f"{DEFINITIONS}/{workflow_id}"


def owner(workflow_id: str) -> str:
    return f"{OWNERS}/{workflow_id}"


def schedule_fired(schedule_id: str) -> str:
    return f"{SCHEDULES_FIRED}/{schedule_id}"
