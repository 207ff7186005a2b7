"""Identity holds the same on SQLite and on PostgreSQL: the bootstrap, users with names
unique ignoring case, sessions, tokens, workspaces and their last admin, chats."""

from __future__ import annotations

import asyncio

import pytest

from service.auth.repository import AuthRepository, UsernameTaken
from service.auth.schema import ADMIN_USERNAME, DEFAULT_WORKSPACE_ID
from service.auth.workspaces import LastWorkspaceAdmin, WorkspaceNameTaken, WorkspaceRepository
from tests.support.backends import Backend


@pytest.fixture
async def identity(backend: Backend) -> tuple[AuthRepository, WorkspaceRepository]:
    store = await backend.open()
    auth = AuthRepository(store)
    await auth.ensure_schema()
    await auth.ensure_schema()  # a second start finds the tables there
    return auth, WorkspaceRepository(store)


async def test_bootstrap_creates_admin_and_default_once(
        identity: tuple[AuthRepository, WorkspaceRepository], backend: Backend) -> None:
    auth, workspaces = identity
    assert await auth.bootstrap("first password") is True
    assert await auth.bootstrap("second password") is False
    admin = await auth.authenticate(ADMIN_USERNAME, "first password")
    assert admin is not None
    assert admin.is_admin
    assert await auth.authenticate(ADMIN_USERNAME, "second password") is None
    assert [w.id for w in await workspaces.all_workspaces()] == [DEFAULT_WORKSPACE_ID]
    # Deleting admin later must not bring it back on the next start.
    assert await auth.delete_user(admin.id)
    assert await auth.bootstrap("third password") is False
    assert backend.query("SELECT COUNT(*) AS n FROM users WHERE deleted_at IS NULL")[0]["n"] == 0


async def test_usernames_are_unique_and_found_ignoring_case(
        identity: tuple[AuthRepository, WorkspaceRepository]) -> None:
    auth, _ = identity
    alice = await auth.create_user("Alice", "pw-alice-1")
    with pytest.raises(UsernameTaken):
        await auth.create_user("aLICE", "other")
    found = await auth.find_user("ALICE")
    assert found is not None
    assert found.id == alice.id
    assert found.username == "Alice"
    assert (await auth.authenticate("alice", "pw-alice-1")) == alice
    assert await auth.authenticate("alice", "wrong") is None
    users, total = await auth.list_users(limit=10, offset=0)
    assert [u.id for u in users] == [alice.id]
    assert total == 1


async def test_concurrent_creates_of_one_name_make_one_user(
        identity: tuple[AuthRepository, WorkspaceRepository], backend: Backend) -> None:
    auth, _ = identity
    outcomes = await asyncio.gather(
        *(auth.create_user(name, "pw") for name in ("bob", "BOB", "Bob")),
        return_exceptions=True)
    assert sum(isinstance(o, UsernameTaken) for o in outcomes) == 2
    assert backend.query("SELECT COUNT(*) AS n FROM users")[0]["n"] == 1


async def test_sessions_end_when_revoked_expired_or_the_password_changes(
        identity: tuple[AuthRepository, WorkspaceRepository]) -> None:
    auth, _ = identity
    carol = await auth.create_user("carol", "pw-1")
    first = await auth.create_session(carol.id, 3600)
    second = await auth.create_session(carol.id, 3600)
    assert await auth.user_for_session(first) == carol
    await auth.revoke_session(second)
    assert await auth.user_for_session(second) is None
    assert await auth.set_password(carol.id, "pw-2") == 1
    assert await auth.user_for_session(first) is None
    expired = await auth.create_session(carol.id, -1)
    assert await auth.user_for_session(expired) is None
    assert await auth.authenticate("carol", "pw-2") == carol


async def test_tokens_are_listed_revoked_and_die_with_their_user(
        identity: tuple[AuthRepository, WorkspaceRepository]) -> None:
    auth, _ = identity
    dave = await auth.create_user("dave", "pw")
    token, secret = await auth.create_token(dave.id, "ci")
    other, other_secret = await auth.create_token(dave.id, "laptop")
    assert await auth.user_for_token(secret) == dave
    # Listed by creation time, then id: two made in one millisecond may come either way.
    assert sorted(t.name for t in await auth.list_tokens(dave.id)) == ["ci", "laptop"]
    await auth.revoke_token(token.id)
    revoked = await auth.get_token(token.id)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert await auth.user_for_token(secret) is None
    assert await auth.delete_user(dave.id)
    assert not await auth.delete_user(dave.id)
    assert await auth.user_for_token(other_secret) is None
    assert await auth.get_user(dave.id) is None


async def test_workspaces_keep_their_last_admin(
        identity: tuple[AuthRepository, WorkspaceRepository]) -> None:
    auth, workspaces = identity
    erin, frank = await auth.create_user("erin", "pw"), await auth.create_user("Frank", "pw")
    team = await workspaces.create_workspace("Team", erin.id)
    with pytest.raises(WorkspaceNameTaken):
        await workspaces.create_workspace("team", frank.id)
    assert await workspaces.role_of(erin.id, team.id) == "admin"
    with pytest.raises(LastWorkspaceAdmin):
        await workspaces.set_member(team.id, erin.id, "viewer")
    with pytest.raises(LastWorkspaceAdmin):
        await workspaces.remove_member(team.id, erin.id)
    assert await workspaces.set_member(team.id, frank.id, "admin") is True
    assert await workspaces.set_member(team.id, frank.id, "admin") is False
    assert [m.username for m in await workspaces.members(team.id)] == ["erin", "Frank"]
    assert await workspaces.set_member(team.id, erin.id, "viewer") is False
    assert await workspaces.remove_member(team.id, erin.id) is True
    assert await workspaces.remove_member(team.id, erin.id) is False
    assert [(w.name, role) for w, role in await workspaces.memberships(frank.id)] == [
        ("Team", "admin")]


async def test_two_admins_demoted_at_once_leave_one(
        identity: tuple[AuthRepository, WorkspaceRepository]) -> None:
    auth, workspaces = identity
    gina, hal = await auth.create_user("gina", "pw"), await auth.create_user("hal", "pw")
    team = await workspaces.create_workspace("pair", gina.id)
    await workspaces.set_member(team.id, hal.id, "admin")
    outcomes = await asyncio.gather(
        workspaces.set_member(team.id, gina.id, "viewer"),
        workspaces.set_member(team.id, hal.id, "viewer"), return_exceptions=True)
    assert sum(isinstance(o, LastWorkspaceAdmin) for o in outcomes) == 1
    roles = [m.role for m in await workspaces.members(team.id)]
    assert sorted(roles) == ["admin", "viewer"]


async def test_chats_are_stored_with_their_owner(
        identity: tuple[AuthRepository, WorkspaceRepository]) -> None:
    auth, workspaces = identity
    ivy = await auth.create_user("ivy", "pw")
    chat = await workspaces.create_chat(ivy.id, "questions")
    assert await workspaces.get_chat(chat.id) == chat
    assert await workspaces.get_chat("missing") is None
