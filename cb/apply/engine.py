"""The apply engine, running inside the runner next to the state store.

Order, so that state always equals reality even when an external provider fails half-way:
1. everything is validated and every provider loaded first; a problem here changes nothing;
2. external numbers that go away are released (each recorded as it succeeds);
3. all runner-held resources (return schemas, policies, tools, agents, local numbers) land in ONE
   state transaction: all or nothing;
4. external numbers are created or re-pointed at the runner (each recorded as it succeeds).
Every step records under ONE serial: the first moves it by one, the later ones continue it
(``StateStore.commit(continues=...)``), so one apply is one serial however many numbers it touches.
A number removed from the configuration is released only if its Number said ``purchase: true``
(cb bought it); otherwise cb stops managing it and it stays in the account untouched.
A failure stops the run and the result names exactly what was and was not applied.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from cb.providers import credentials as provider_credentials
from cb.providers.base import ProviderError
from cb.providers.registry import ProviderRegistry, desired_number, differences, moved_runner_url
from cb.state.errors import StateError
from cb.state.store import Change, StateStore
from cb.state.types import Cause, thaw

from .integrity import check_binding, check_documents, check_hashes, fingerprint
from .references import dangling, state_after

log = logging.getLogger("cb.apply")


@dataclass
class ApplyResult:
    ok: bool
    serial: int
    applied: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)
    failed: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def revision_meta(rev: Any) -> dict[str, Any]:
    return {"id": rev.id, "kind": rev.kind, "name": rev.name, "hash": rev.hash, "source": rev.source,
            "applied_by": rev.applied_by, "applied_at": rev.applied_at, "cause": rev.cause.to_dict(),
            "serial": rev.serial}


class Engine:
    def __init__(self, store: StateStore, providers: ProviderRegistry):
        self.store = store
        self.providers = providers
        self._view_cache: tuple[tuple[int, str], dict[str, Any]] | None = None
        self._live_credentials: tuple[tuple[int, str], dict[str, dict[str, list[str]]]] | None = None
        #: the profile of an agent that names none: the one its calls get (`CB_PROFILE`, as the call path)
        self.default_profile = getattr(providers.settings, "profile", None) or os.environ.get("CB_PROFILE") or "local"
        #: asked before anything is committed, with address -> (kind, content) as the change set would
        #: leave the state; each raises StateError when this runner could not serve it (the runner's
        #: call transports: a SIP listen address it cannot bind)
        self.before_commit: list[Callable[[dict[str, tuple[str, Any]]], None]] = []

    # ------------------------------------------------------------------ reading
    def state_view(self, refresh: bool = False) -> dict[str, Any]:
        """Lineage, serial and per-address revision metadata (no contents); with ``refresh``, what
        each external number provider really holds, compared with what cb would set."""
        snap = self.store.snapshot()
        if self._view_cache is None or self._view_cache[0] != (snap.serial, snap.head):
            self._view_cache = ((snap.serial, snap.head), {a: revision_meta(r) for a, r in snap.resources.items()})
        view = {"lineage": snap.lineage, "serial": snap.serial, "fingerprint": fingerprint(snap),
                "resources": self._view_cache[1],
                "lock": (lock.to_dict() if (lock := self.store.current_lock()) else None)}
        if refresh:
            view["observed"] = self.observe(snap)
        return view

    def observe(self, snap: Any) -> dict[str, Any]:
        return self.observe_documents({a: thaw(r.content) for a, r in snap.resources.items() if r.kind == "Number"})

    def observe_documents(self, documents: dict[str, Any]) -> dict[str, Any]:
        """What each external number's provider holds, against what cb would set there: live numbers
        (drift) and numbers a plan would create (held already, or missing). Local numbers are skipped."""
        out: dict[str, Any] = {}
        for address, content in documents.items():
            try:
                name = content["spec"].get("provider", "local")
                number = content["spec"]["number"]
            except (KeyError, TypeError, AttributeError):
                continue
            try:
                provider = self.providers.get(name)
                if not self.providers.is_external(provider):
                    continue
                have = provider.read(number)
            except ProviderError as exc:
                out[address] = {"provider": name, "error": str(exc)}
                continue
            if have is None:
                out[address] = {"provider": name, "missing": True}
                continue
            desired = desired_number(content, self.providers.settings)
            diffs = differences(have, desired)
            entry = {"provider": name, "sid": have.sid, "updated_at": have.updated_at,
                     "differences": {k: list(v) for k, v in diffs.items()}}
            old = moved_runner_url(have, desired) if diffs else None
            if old:
                entry["public_url_changed"] = {"from": old, "to": desired.voice_url.rsplit("/twilio/voice", 1)[0]}
            out[address] = entry
        return out

    def credentials(self, agents: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
        """address -> {"needs": [...], "missing": [...]}: the environment variable names each agent's
        pipeline providers need (``agents`` maps an address to its ``spec.pipeline``), and which of
        them are not set on this runner. Names only, never values."""
        return {address: provider_credentials.report(pipeline if isinstance(pipeline, dict) else {},
                                                     self.default_profile)
                for address, pipeline in agents.items()}

    def check_credentials(self, changes: list[Change]) -> None:
        """Refuse a change set that would make an agent live whose providers need environment
        variables this runner lacks: `cb plan` says so, and a saved plan, the raw API, watch and
        rollback are checked again here, where the environment is."""
        agents = {c.address: ((c.content or {}).get("spec") or {}).get("pipeline") or {}
                  for c in changes if c.kind == "Agent" and c.content is not None}
        missing = [f"{address}: its providers need {', '.join(found['missing'])}, not set on the runner; "
                   f"{provider_credentials.fix(found['missing'])}"
                   for address, found in sorted(self.credentials(agents).items()) if found.get("missing")]
        if missing:
            raise StateError("the change set was refused, nothing was applied: every call would fail\n  "
                             + "\n  ".join(missing))

    def live_credentials(self) -> dict[str, dict[str, list[str]]]:
        """``credentials`` of every live agent (cached per snapshot: the environment is read at start)."""
        snap = self.store.snapshot()
        if self._live_credentials is None or self._live_credentials[0] != (snap.serial, snap.head):
            agents = {a: thaw((r.content.get("spec") or {}).get("pipeline") or {})
                      for a, r in snap.resources.items() if r.kind == "Agent" and r.content is not None}
            self._live_credentials = ((snap.serial, snap.head), self.credentials(agents))
        return self._live_credentials[1]

    def contents(self, addresses: list[str]) -> dict[str, Any]:
        snap = self.store.snapshot()
        return {a: thaw(snap.resources[a].content) for a in addresses if a in snap.resources}

    # ------------------------------------------------------------------ writing
    def check(self, expect_lineage: str | None, expect_serial: int | None, lock_id: str | None,
              expect_fingerprint: str | None = None) -> None:
        """Refuse early (stale plan, lock held) before anything is touched; commit checks again."""
        self.store.commit([], source="apply", expect_lineage=expect_lineage, expect_serial=expect_serial,
                          lock_id=lock_id)
        check_binding(self.store.snapshot(), expect_fingerprint)

    def apply(self, changes: list[Change], **kw: Any) -> ApplyResult:
        result = None
        for event in self.apply_steps(changes, **kw):
            if event["event"] == "result":
                result = event["result"]
        assert result is not None
        return result

    def apply_steps(self, changes: list[Change], *, source: str, cause: Cause, applied_by: str,
                    expect_lineage: str | None = None, expect_serial: int | None = None,
                    lock_id: str | None = None, expect_fingerprint: str | None = None,
                    hashes: dict[str, str | None] | None = None) -> Iterator[dict[str, Any]]:
        """Apply, yielding one progress event per resource and finally {"event": "result", ...}.
        Nothing is touched until cb.apply.integrity's checks pass (binding, hashes, cb validate)."""
        self.check(expect_lineage, expect_serial, lock_id, expect_fingerprint)
        snap = self.store.snapshot()
        check_hashes(changes, hashes or {})
        guarded = [c.address for c in changes if c.action == "delete" and c.address in snap.resources
                   and ((snap.resources[c.address].content or {}).get("spec") or {}).get("lifecycle", {}).get("prevent_destroy")]
        if guarded:
            raise StateError(f"refusing to delete {', '.join(guarded)}: lifecycle.prevent_destroy is set on the live "
                             "revision; nothing was applied")
        problems = dangling(snap.resources, changes)
        if problems:
            raise StateError("the change set was refused, nothing was applied:\n  " + "\n  ".join(problems))
        check_documents(snap.resources, changes)
        self.check_credentials(changes)
        for check in self.before_commit:
            check(state_after(snap.resources, changes))
        external, runner_side = [], []
        for change in changes:
            provider = None
            if change.kind == "Number":
                content = change.content if change.content is not None else thaw(
                    (snap.resources.get(change.address) or snap.resources.get(change.moved_from or "")).content)
                provider = self.providers.get(content["spec"].get("provider", "local"))  # ProviderError: nothing done
                if not self.providers.is_external(provider):
                    provider = None
            (external if provider else runner_side).append((change, provider))
        if any(c.action != "delete" for c, _ in external) and not getattr(self.providers.settings, "public_url", None):
            raise StateError("refusing to point numbers at this runner: it has no public URL, and a carrier cannot "
                             f"call {self.providers.settings.public_base_url}. Start it with --public-url URL "
                             "(or CB_PUBLIC_URL) at which the provider reaches it; nothing was applied")
        done: list[str] = []
        serial = [snap.serial if expect_serial is None else expect_serial]
        recorded: list[Any] = []  # the snapshot the change set's last step made

        def record(batch: list[Change]) -> None:
            if recorded:  # a later step of the same change set: same serial, nothing committed between
                new = self.store.commit(batch, source=source, cause=cause, applied_by=applied_by,
                                        lock_id=lock_id, continues=recorded[-1])
            else:
                new = self.store.commit(batch, source=source, cause=cause, applied_by=applied_by,
                                        expect_lineage=expect_lineage, expect_serial=serial[0], lock_id=lock_id)
            recorded.append(new)
            serial[0] = new.serial

        def fail(address: str, exc: Exception) -> Iterator[dict[str, Any]]:
            rest = [c.address for c in changes if c.address not in done]
            yield {"event": "failed", "address": address, "error": str(exc)}
            yield {"event": "result", "result": ApplyResult(False, serial[0], list(done), rest, {"address": address, "error": str(exc)})}

        order = sorted(external, key=lambda cp: cp[0].action != "delete")
        for change, provider in [cp for cp in order if cp[0].action == "delete"]:
            yield {"event": "start", "address": change.address, "action": change.action}
            try:
                before = snap.resources[change.address].content
                if before["spec"].get("purchase"):  # cb bought it, so cb releases it
                    have = provider.read(before["spec"]["number"])
                    if have is not None:
                        provider.delete(have)
                else:
                    log.info("%s: no longer managed; %s stays in the %s account as it is", change.address,
                             before["spec"]["number"], provider.name)
                record([change])
            except (ProviderError, StateError) as exc:
                yield from fail(change.address, exc)
                return
            done.append(change.address)
            yield {"event": "done", "address": change.address, "action": change.action}

        if runner_side:
            for change, _ in runner_side:
                yield {"event": "start", "address": change.address, "action": change.action}
            try:
                record([c for c, _ in runner_side])
            except StateError as exc:
                yield from fail(runner_side[0][0].address, exc)
                return
            for change, _ in runner_side:
                done.append(change.address)
                yield {"event": "done", "address": change.address, "action": change.action}

        for change, provider in [cp for cp in order if cp[0].action != "delete"]:
            yield {"event": "start", "address": change.address, "action": change.action}
            try:
                desired = desired_number(change.content, self.providers.settings)
                have = provider.read(desired.number)
                if have is None:
                    if not desired.purchase:
                        raise ProviderError(f"the {provider.name} account does not hold {desired.number}; "
                                            "set spec.purchase: true to buy it, or add it to the account first")
                    provider.create(desired)
                elif differences(have, desired):
                    provider.update(have, desired)
                else:  # only cb-side fields changed (e.g. spec.agent): nothing to send to the provider
                    log.info("%s: %s already points at this runner; nothing sent to %s", change.address,
                             desired.number, provider.name)
                record([change])
            except (ProviderError, StateError) as exc:
                yield from fail(change.address, exc)
                return
            except Exception as exc:  # an SDK's own error: still report exactly what landed
                log.exception("provider %s failed on %s", getattr(provider, "name", "?"), change.address)
                yield from fail(change.address, exc)
                return
            done.append(change.address)
            yield {"event": "done", "address": change.address, "action": change.action}
        yield {"event": "result", "result": ApplyResult(True, serial[0], done, [])}

    def apply_project(self, project: Any, *, source: str = "watch", cause: Cause | None = None,
                      applied_by: str = "runner") -> ApplyResult:
        """Apply a validated Project in-process (watch mode): make a plan with the same planner as
        `cb plan`, against this engine's state, take the lock, apply it through the same steps as the
        admin API. Drift is overwritten: watch *is* the operator's edit. Raises StateError (e.g.
        LockHeld) without changing anything."""
        from cb.plan.planner import make_plan, to_changes

        plan = make_plan(project, InProcessRunner(self), overwrite_drift=True, refresh=False)
        if plan.errors:
            raise StateError("; ".join(plan.errors))
        changes = to_changes(plan.changes)
        if not changes:
            return ApplyResult(True, plan.serial)
        lock = self.store.acquire_lock(applied_by, f"{source} apply")
        try:
            return self.apply(changes, source=source, cause=cause or Cause(), applied_by=applied_by,
                              expect_lineage=plan.lineage, expect_serial=plan.serial, lock_id=lock.id,
                              expect_fingerprint=plan.fingerprint, hashes=plan.hashes())
        finally:
            self.store.release_lock(lock.id)


class InProcessRunner:
    """An engine as the planner sees a runner: what ``GET /v1/state`` and ``POST /v1/state/contents``
    answer, without HTTP in between."""

    url = "in-process"

    def __init__(self, engine: Engine):
        self.state, self.contents, self.observe = engine.state_view, engine.contents, engine.observe_documents
        self.credentials = engine.credentials
