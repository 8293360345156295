"""What SSH failures mean for a task: fatal (no retry can fix it) or transient (retried)."""

from __future__ import annotations

import asyncssh
import pytest

from helicase.common.errors import NonRetryableError
from helicase.participant.airavata._models import SshEndpoint
from helicase.participant.airavata._ssh import TransientError, classify_connect_error
from helicase.participant.airavata._transfer import check_copy, check_expected

ENDPOINT = SshEndpoint(host="h", port=22, user="u", host_key="ssh-ed25519 AAAA", credential_id="c")


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (asyncssh.HostKeyNotVerifiable("Host key is not trusted"), True),
        (asyncssh.PermissionDenied("Permission denied"), True),
        (ConnectionRefusedError(111, "refused"), False),
        (TimeoutError(), False),
        (asyncssh.ConnectionLost("lost"), False),
        (OSError(113, "No route to host"), False),
    ],
)
def test_connect_errors_are_classified(error: BaseException, fatal: bool) -> None:
    classified = classify_connect_error(ENDPOINT, error)
    assert isinstance(classified, NonRetryableError if fatal else TransientError)
    assert "u@h:22" in str(classified)


def test_a_copy_that_landed_different_bytes_is_retried_but_a_wrong_input_is_fatal() -> None:
    with pytest.raises(TransientError):
        check_copy("f", "a" * 64, "b" * 64)
    with pytest.raises(NonRetryableError):
        check_expected("f", "a" * 64, "b" * 64)
    check_expected("f", "", "b" * 64)  # no expectation given
