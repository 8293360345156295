"""The local CA (helicase.devstack.pki) and what a certificate says (helicase.common.tls)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from helicase.api.auth.peers import ALLOWED, EVENTS, principal_of
from helicase.api.auth.principal import ANY_TENANT, Role
from helicase.common.errors import PermissionDenied
from helicase.common.tenants import TENANT_METADATA
from helicase.common.tls import Identity, identity_of_pem, parse_uri, require_kind
from helicase.devstack import pki


def test_certificates_are_made_once_reused_and_their_keys_private(tmp_path: Path) -> None:
    who = Identity("participant", "p-1", "gpu")
    first = pki.issue(tmp_path, who)
    made = first.cert.read_bytes()
    again = pki.issue(tmp_path, who)
    assert again == first and again.cert.read_bytes() == made
    for key in (first.key, tmp_path / "ca.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert first.cert.name == "participant-gpu-p-1.crt"
    assert identity_of_pem(made) == who
    assert first.identity() == who


def test_a_certificate_of_another_ca_is_made_again(tmp_path: Path) -> None:
    who = Identity("sink", "sink")
    old = pki.issue(tmp_path, who).cert.read_bytes()
    (tmp_path / "ca.crt").unlink()  # a new CA: what the old one signed is worthless
    assert pki.issue(tmp_path, who).cert.read_bytes() != old


def test_the_identity_uri_names_kind_name_and_a_participants_group() -> None:
    assert Identity("controller", "c").uri == "helicase://controller/c"
    assert Identity("participant", "p", "default").uri == "helicase://participant/default/p"
    assert parse_uri("helicase://participant/default/p") == Identity("participant", "p", "default")
    for bad in (
        "helicase://participant/p",
        "helicase://wizard/x",
        "spiffe://api/a",
        "helicase://api/",
        "helicase://scheduler/a/b",
    ):
        assert parse_uri(bad) is None, bad


def test_the_service_a_supervised_process_runs_decides_its_identity() -> None:
    env = {"HELICASE_PARTICIPANT_NAME": "box-1", "HELICASE_PARTICIPANT_GROUP": "hpc"}
    assert pki.identity_of_service("helicase.participant", "participant-1", env) == Identity(
        "participant", "box-1", "hpc"
    )
    poisoned = pki.identity_of_service("helicase.controller.poisoned", "controller-a", {})
    assert poisoned == Identity("controller", "controller-a")
    assert pki.identity_of_service("helicase.devstack._fake_service", "api", {}) is None


def test_each_kind_calls_only_its_own_internal_methods() -> None:
    record = f"{EVENTS}RecordEvents"
    require_kind(Identity("sink", "s"), record, ALLOWED)
    for kind in ("participant", "scheduler", "controller", "api"):
        with pytest.raises(PermissionDenied):
            require_kind(Identity(kind, "x", "default"), record, ALLOWED)


def test_a_component_stays_a_component_whatever_tenant_it_names() -> None:
    # The tenant a component names is applied by tenancy.ActingForInterceptor, which keeps the
    # principal a component (so the scheduler may still set the reserved schedule labels).
    sink = principal_of(Identity("sink", "s"), {TENANT_METADATA: "acme"})
    assert (sink.tenant, sink.subject) == (ANY_TENANT, "component:sink:s")
    scheduler = principal_of(Identity("scheduler", "s1"), {TENANT_METADATA: "acme"})
    assert scheduler.component and scheduler.role == Role.SUBMITTER
    participant = principal_of(Identity("participant", "p", "gpu"), {})
    assert participant.subject == "component:participant:gpu/p"
