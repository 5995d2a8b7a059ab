"""People routes: users, the caller (``/me``), API tokens and teams.

Bodies go to the permissions service as sent; it validates them against its
contract schemas and decides who may do what, so these handlers only take the
request apart and choose the status code.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from gateway.auth import Credentials
from gateway.http import (
    empty_response,
    idempotency_key,
    json_object,
    json_response,
    optional_object,
    query_args,
    route,
)
from gateway.schemas import CreatedUserSchema
from gateway.sessions import SignInEdge
from services.chassis.rpc import ServiceRpc
from services.chassis.schema import load
from services.permissions import contract as permissions_contract


class PeopleRoutes:
    permissions = ServiceRpc(permissions_contract.SERVICE_NAME)
    edge = SignInEdge()
    credentials = Credentials()

    # users -----------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/users",
        summary="Create a user (account access; granting super_admin needs a super admin). "
        "Accepts Idempotency-Key. With ?invite=true the answer also holds invite, the user's one-time "
        "set-password link (a replay issues a new one, which replaces the first).",
        body=permissions_contract.UserSchema,
        query=permissions_contract.UserCreateQuerySchema,
        returns=CreatedUserSchema,
        status=201,
        idempotent=True,
        errors=(403,),
        headers=("Location", "Idempotent-Replayed"),
        tag="people",
    )
    def create_user(self, request: Request) -> Response:
        invite = load(permissions_contract.UserCreateQuerySchema, query_args(request))["invite"]
        user = self.permissions.create_user(json_object(request), idempotency_key=idempotency_key(request))
        headers = {"Location": f"/api/v1/users/{user['id']}"}
        if invite:
            user["invite"] = self.edge.invite_link(request, self.permissions.invite(user["id"]))
            headers["Cache-Control"] = "no-store"
        return json_response(user, 201, headers)

    @route(
        "GET",
        "/api/v1/users",
        summary="Users, a page at a time (account access).",
        returns=permissions_contract.UserPageSchema,
        query=permissions_contract.UserQuerySchema,
        errors=(403,),
        tag="people",
    )
    def list_users(self, request: Request) -> Response:
        return json_response(self.permissions.list_users(query_args(request)))

    @route(
        "GET",
        "/api/v1/users/<int:user_id>",
        summary="A user: yourself, or anyone with account access.",
        returns=permissions_contract.UserSchema,
        tag="people",
    )
    def get_user(self, request: Request, user_id: int) -> Response:
        return json_response(self.permissions.get_user(user_id))

    @route(
        "PATCH",
        "/api/v1/users/<int:user_id>",
        summary="Change some fields of a user. Without account access only your own name and email.",
        body=permissions_contract.UserPatchSchema,
        returns=permissions_contract.UserSchema,
        errors=(403,),
        tag="people",
    )
    def update_user(self, request: Request, user_id: int) -> Response:
        return json_response(self.permissions.update_user(user_id, json_object(request)))

    @route(
        "GET",
        "/api/v1/me",
        summary="The calling user.",
        returns=permissions_contract.UserSchema,
        tag="people",
    )
    def me(self, request: Request) -> Response:
        return json_response(self.permissions.me())

    # tokens ----------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/users/<int:user_id>/tokens",
        summary="Issue an API token; the answer is the only time its value is shown. The body may be empty. "
        "Accepts Idempotency-Key, but as the value is not kept a replay cannot show it again: the same key "
        "and body issue no second token and answer 409 with token_id, the token issued under that key "
        "(revoke it if its value was lost).",
        body=permissions_contract.TokenCreateSchema,
        optional_body=True,
        returns=permissions_contract.TokenSchema,
        status=201,
        idempotent=True,
        errors=(403,),
        tag="people",
    )
    def issue_token(self, request: Request, user_id: int) -> Response:
        key = idempotency_key(request)
        token = self.permissions.issue_token(user_id, optional_object(request), idempotency_key=key)
        return json_response(token, 201)

    @route(
        "GET",
        "/api/v1/users/<int:user_id>/tokens",
        summary="A user's tokens (never their values), newest first, revoked ones included.",
        returns=permissions_contract.TokenPageSchema,
        query=permissions_contract.TokenQuerySchema,
        tag="people",
    )
    def list_tokens(self, request: Request, user_id: int) -> Response:
        return json_response(self.permissions.list_tokens(user_id, query_args(request)))

    @route(
        "DELETE",
        "/api/v1/tokens/<int:token_id>",
        summary="Revoke a token; it stops working at once. Revoking it again also answers 204.",
        status=204,
        errors=(403,),
        tag="people",
    )
    def revoke_token(self, request: Request, token_id: int) -> Response:
        self.permissions.revoke_token(token_id)
        self.credentials.flush()
        return empty_response(204)

    # teams -----------------------------------------------------------------
    @route(
        "POST",
        "/api/v1/teams",
        summary="Create a team, without members (account access). Accepts Idempotency-Key.",
        body=permissions_contract.TeamSchema,
        returns=permissions_contract.TeamSchema,
        status=201,
        idempotent=True,
        errors=(403,),
        headers=("Location", "Idempotent-Replayed"),
        tag="people",
    )
    def create_team(self, request: Request) -> Response:
        team = self.permissions.create_team(json_object(request), idempotency_key=idempotency_key(request))
        return json_response(team, 201, {"Location": f"/api/v1/teams/{team['id']}"})

    @route(
        "GET",
        "/api/v1/teams",
        summary="Teams: all of them with account access, else the ones you belong to.",
        returns=permissions_contract.TeamPageSchema,
        query=permissions_contract.TeamQuerySchema,
        tag="people",
    )
    def list_teams(self, request: Request) -> Response:
        return json_response(self.permissions.list_teams(query_args(request)))

    @route(
        "GET",
        "/api/v1/teams/<int:team_id>",
        summary="A team you belong to, or any team with account access.",
        returns=permissions_contract.TeamSchema,
        tag="people",
    )
    def get_team(self, request: Request, team_id: int) -> Response:
        return json_response(self.permissions.get_team(team_id))

    @route(
        "PATCH",
        "/api/v1/teams/<int:team_id>",
        summary="Rename a team (account access).",
        body=permissions_contract.TeamSchema,
        returns=permissions_contract.TeamSchema,
        errors=(403,),
        tag="people",
    )
    def update_team(self, request: Request, team_id: int) -> Response:
        return json_response(self.permissions.update_team(team_id, json_object(request)))

    @route(
        "PUT",
        "/api/v1/teams/<int:team_id>/members",
        summary="Replace a team's members with user_ids (account access).",
        body=permissions_contract.TeamMembersSchema,
        returns=permissions_contract.TeamSchema,
        errors=(403,),
        tag="people",
    )
    def set_team_members(self, request: Request, team_id: int) -> Response:
        return json_response(self.permissions.set_team_members(team_id, json_object(request)))
