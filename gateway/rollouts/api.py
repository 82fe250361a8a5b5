"""The admin API's rollout calls (served by gateway/admin.py, behind its tokens)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import changes
from gateway.rollouts.operations import Operations
from gateway.rollouts.state import Rollout

Handler = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Callable[[Request, str], Awaitable[Response]]], Handler]
Body = Callable[[Request], Awaitable[dict[str, Any]]]
VERBS = ("pause", "resume", "abort", "promote")


def shown(rollout: Rollout) -> dict[str, Any]:
    return {**rollout.to_dict(), "name": rollout.name, "weight": rollout.weight}


def routes(
    ops: Operations, guarded: Guard, body: Body, changed: Callable[[], Awaitable[None]]
) -> list[Route]:
    """`changed`: this gateway adopts the table a call changed before it answers (as every
    admin change does), so what the caller reads next from it is what it did."""

    async def list_rollouts(_request: Request, _actor: str) -> Response:
        """
        responses:
          200: {description: "Every rollout (the newest of each route or group), and the
            controller holding the lease."}
        """
        return JSONResponse(
            {
                "controller": await ops.rollouts.holder(),
                "rollouts": [shown(r) for r in await ops.rollouts.all()],
            }
        )

    async def show(request: Request, _actor: str) -> Response:
        """
        responses:
          200: {description: "One rollout: its step, its last check (each gate's value
            against its threshold) and its history."}
          404: {description: No such rollout.}
        """
        rollout = await ops.get(request.path_params["name"])
        return JSONResponse({**shown(rollout), "controller": await ops.rollouts.holder()})

    async def start(request: Request, who: str) -> Response:
        """
        summary: "Start a rollout. Body = {route | group, steps, interval, gates,
          min_requests?, failure_limit?, shadow?, checks?, reason}."
        responses:
          201: {description: The rollout; the controller takes its first step.}
          400: {description: A setting is missing or wrong (the message says which).}
          404: {description: No such route or group.}
          409: {description: Another rollout already moves one of its routes.}
        """
        document = await body(request)
        reason = document.pop("reason", None)
        rollout = await ops.start(document, actor=who, reason=reason)
        await changed()
        return JSONResponse(shown(rollout), status_code=201)

    def turn(verb: str) -> Callable[[Request, str], Awaitable[Response]]:
        async def handler(request: Request, who: str) -> Response:
            document = await body(request)
            reason = document.pop("reason", None)
            force = document.pop("force", False)
            if not isinstance(force, bool) or (force and verb != "promote"):
                raise changes.ChangeError("'force' is true or false, and only for promote")
            if document:
                raise changes.ChangeError(f"unknown field(s) {', '.join(sorted(document))}")
            name = request.path_params["name"]
            if verb == "promote":
                rollout = await ops.promote(name, actor=who, reason=reason, force=force)
            else:
                rollout = await getattr(ops, verb)(name, actor=who, reason=reason)
            await changed()
            return JSONResponse(shown(rollout))

        extra = ", force?" if verb == "promote" else ""
        handler.__doc__ = f"""
        summary: {verb.capitalize()} a rollout. Body = {{reason{extra}}}.
        responses:
          200: {{description: The rollout.}}
          404: {{description: No such rollout.}}
          409: {{description: The rollout is not in a state it can {verb} from.}}
        """
        return handler

    return [
        Route("/rollouts", guarded(list_rollouts), methods=["GET"]),
        Route("/rollouts", guarded(start), methods=["POST"]),
        Route("/rollouts/{name}", guarded(show), methods=["GET"]),
        *(
            Route(f"/rollouts/{{name}}/{verb}", guarded(turn(verb)), methods=["POST"])
            for verb in VERBS
        ),
    ]
