"""Which task types a participant serves, and why it refuses the others it may be sent (pure)."""

from __future__ import annotations

from helicase.participant.config import ParticipantConfig

SHELL = "shell"


def refused_types(config: ParticipantConfig) -> dict[str, str]:
    """Types this participant must never run, with the reason a task of one is refused: `shell`
    (any command of any caller allowed to submit) unless HELICASE_PARTICIPANT_ENABLE_SHELL."""
    if config.enable_shell:
        return {}
    return {
        SHELL: f"shell tasks are not enabled on participant {config.name}"
        " (HELICASE_PARTICIPANT_ENABLE_SHELL is off)"
    }


def served_types(config: ParticipantConfig) -> tuple[str, ...]:
    """The configured types less the refused ones: what is advertised in ZooKeeper."""
    refused = refused_types(config)
    return tuple(name for name in config.task_types if name not in refused)
