"""Join-token renewal (`components.cluster.bootstrap`): when a bootstrap token is minted
again, and which hosts count as joined after an update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pulumi
import pulumi_command as command
import pytest
from pulumi.runtime.stack import ResourceRegistrationFailed

from components.cluster import bootstrap
from components.cluster.bootstrap import (
    RENEWAL_WINDOW,
    joined_hosts,
    token_triggers,
    token_ttl,
    token_window,
)
from components.cluster.types import JoinTokenRenewal, SshHost
from tests.components.cluster.helpers import command_outputs, host
from tests.support.mocks import RecordingMocks, run

WINDOW = "2026-11-30T19:00Z"


@pytest.mark.parametrize(
    ("joining", "renewal", "triggers", "ignore_changes"),
    [
        # No renewal (component used on its own): the sorted set, as before.
        (["gpu-1", "cp-0", "gpu-0"], None, ["cp-0", "gpu-0", "gpu-1"], []),
        # First deployment: nothing joined, every host pending, this window's token.
        (
            ["gpu-1", "cp-0"],
            JoinTokenRenewal(frozenset(), WINDOW),
            ["cp-0", "gpu-1", f"window {WINDOW}"],
            [],
        ),
        # A retry after gpu-1's join failed: only gpu-1 pending; a new value, a new token.
        (
            ["cp-0", "gpu-0", "gpu-1"],
            JoinTokenRenewal(frozenset({"cp-0", "gpu-0"}), WINDOW),
            ["gpu-1", f"window {WINDOW}"],
            [],
        ),
        # Everyone joined: the token in the state stays, whatever the set now says.
        (
            ["cp-0", "gpu-0"],
            JoinTokenRenewal(frozenset({"cp-0", "gpu-0", "gpu-9"}), WINDOW),
            ["cp-0", "gpu-0"],
            ["triggers"],
        ),
        # Duplicates in the input do not change the value.
        (["gpu-0", "gpu-0"], None, ["gpu-0"], []),
    ],
)
def test_token_triggers(
    joining: list[str],
    renewal: JoinTokenRenewal | None,
    triggers: list[str],
    ignore_changes: list[str],
) -> None:
    assert token_triggers(joining, renewal) == (triggers, ignore_changes)


def test_a_retry_in_a_later_window_mints_again_and_in_the_same_window_does_not() -> None:
    joined = frozenset({"cp-0"})
    at_19_05 = token_triggers(["cp-0", "gpu-1"], JoinTokenRenewal(joined, "2026-11-30T19:00Z"))
    at_19_55 = token_triggers(["cp-0", "gpu-1"], JoinTokenRenewal(joined, "2026-11-30T19:00Z"))
    at_21_10 = token_triggers(["cp-0", "gpu-1"], JoinTokenRenewal(joined, "2026-11-30T21:00Z"))
    assert at_19_05 == at_19_55
    assert at_21_10 != at_19_55


@pytest.mark.parametrize(
    ("now", "window"),
    [
        (datetime(2026, 11, 30, 19, 0, 0, tzinfo=UTC), "2026-11-30T19:00Z"),
        (datetime(2026, 11, 30, 19, 59, 59, tzinfo=UTC), "2026-11-30T19:00Z"),
        (datetime(2026, 11, 30, 20, 0, 0, tzinfo=UTC), "2026-11-30T20:00Z"),
        # Another zone: the same instant, the same window.
        (datetime(2026, 12, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
         "2026-11-30T20:00Z"),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "2026-12-31T23:00Z"),
    ],
)  # fmt: skip
def test_token_window(now: datetime, window: str) -> None:
    assert token_window(now) == window


def test_token_window_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        token_window(datetime(2026, 11, 30, 19, 0))


def test_a_reused_token_has_at_least_a_window_left() -> None:
    # A token reused in its window was minted at most one window ago; it must outlive
    # the window that follows, so an update that starts then still joins with it.
    assert token_ttl() == timedelta(hours=2)
    assert token_ttl() >= 2 * RENEWAL_WINDOW


def test_mint_join_token_passes_triggers_and_ignore_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}
    real = command.remote.Command

    def spy(name: str, **kwargs: Any) -> Any:
        seen["triggers"] = kwargs["triggers"]
        seen["ignore_changes"] = kwargs["opts"].ignore_changes
        return real(name, **kwargs)

    monkeypatch.setattr(command.remote, "Command", spy)
    first = _host("cp-0")

    def program() -> None:
        bootstrap.mint_join_token(
            "t-join-token",
            host=first,
            joining_hosts=["cp-0", "gpu-0"],
            upload_certs=False,
            kubeconfig=None,
            opts=pulumi.ResourceOptions(),
            renewal=JoinTokenRenewal(frozenset({"cp-0", "gpu-0"}), WINDOW),
        )

    run(program, RecordingMocks(command_outputs))
    assert seen == {"triggers": ["cp-0", "gpu-0"], "ignore_changes": ["triggers"]}


@dataclass
class _Registered:
    """What `joined_hosts` reads of a command: its `id`, which the SDK faults with
    `ResourceRegistrationFailed` when the engine reports the create failed."""

    id: pulumi.Output[str]


def _created(name: str) -> _Registered:
    return _Registered(pulumi.Output.from_input(f"{name}-id"))


def _failed(name: str) -> _Registered:
    def fault(_: object) -> str:
        raise ResourceRegistrationFailed(f"resource {name} failed to register")

    return _Registered(pulumi.Output.from_input(name).apply(fault))


def _joined(commands: dict[str, _Registered], before: frozenset[str] = frozenset()) -> Any:
    return joined_hosts(cast(dict[str, pulumi.CustomResource], commands), before)


def test_joined_hosts_leaves_out_a_join_that_failed() -> None:
    def program() -> dict[str, object]:
        commands = {"gpu-1": _failed("gpu-1"), "cp-0": _created("cp-0"), "gpu-0": _created("gpu-0")}
        return {"joined": _joined(commands)}

    assert run(program, RecordingMocks())["joined"].value == ["cp-0", "gpu-0"]


def test_a_join_skipped_now_stays_joined() -> None:
    # gpu-0 joined in an earlier update; this time a step it depends on failed (a token
    # re-mint), so its command was skipped: it is still joined. gpu-9 left the config.
    def program() -> dict[str, object]:
        commands = {"gpu-0": _failed("gpu-0"), "gpu-1": _failed("gpu-1"), "cp-0": _created("cp-0")}
        return {"joined": _joined(commands, frozenset({"gpu-0", "gpu-9"}))}

    assert run(program, RecordingMocks())["joined"].value == ["cp-0", "gpu-0"]


def test_a_preview_repeats_the_record() -> None:
    # The command provider plans creates with IDs: a preview must not count them.
    def program() -> dict[str, object]:
        commands = {"gpu-1": _created("gpu-1"), "cp-0": _created("cp-0")}
        return {"joined": _joined(commands, frozenset({"cp-0", "gpu-9"}))}

    assert run(program, RecordingMocks(), preview=True)["joined"].value == ["cp-0"]


def test_only_a_failed_registration_counts_as_not_joined() -> None:
    def program() -> dict[str, object]:
        def boom(_: object) -> str:
            raise ValueError("a bug, not a failed join")

        return {
            "joined": _joined({"gpu-0": _Registered(pulumi.Output.from_input("x").apply(boom))})
        }

    with pytest.raises(Exception, match="a bug, not a failed join"):
        run(program, RecordingMocks())


def test_joined_hosts_of_real_commands() -> None:
    def program() -> dict[str, object]:
        commands = {
            name: command.remote.Command(
                f"t-join-{name}", connection=_host(name).connection(), create="true"
            )
            for name in ("gpu-1", "cp-0", "gpu-0")
        }
        return {"joined": joined_hosts(commands, frozenset())}

    assert run(program, RecordingMocks())["joined"].value == ["cp-0", "gpu-0", "gpu-1"]


def _host(name: str) -> SshHost:
    return host(name, "10.0.0.1")
