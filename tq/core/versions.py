"""An organization's versioned documents (its problems, its scorecard templates): each change is
a version written once, under a unique (orgId, slug, version) index, and a list entry per slug
is moved forward to it after the write.

A slug's version numbers never repeat (a deleted slug's versions stay for what pinned them,
and a new document of that slug continues the numbers). An edit is the version after the one
it was made from, so of two editors at once one gets 409 instead of having their change
silently undone. The entry only moves forward, and only a creation creates one: an edit that
lands after a delete brings nothing back."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bson import ObjectId
from odmantic import AIOEngine, Model
from pymongo.errors import DuplicateKeyError

from tq.core.db import keyset_page
from tq.core.errors import AppError

H = TypeVar("H", bound=Model)
V = TypeVar("V", bound=Model)
LAST_VERSION = (1 << 31) - 1


@dataclass(frozen=True)
class Versioned(Generic[H, V]):
    entry: type[H]  # the list entry: orgId, slug, version, versionId and the summary
    version: type[V]  # a version: orgId, slug, version and its content
    summary: Callable[[V], dict[str, Any]]  # the entry's fields (stored names) of a version
    missing: Callable[[], AppError]  # 404 of this kind of document
    exists: Callable[[str], AppError]  # 409: a creation of a slug the list has
    changed: Callable[[], AppError]  # 409: another edit came first

    def entries(self, engine: AIOEngine) -> Any:
        return engine.get_collection(self.entry)

    def versions(self, engine: AIOEngine) -> Any:
        return engine.get_collection(self.version)

    async def find_entry(self, engine: AIOEngine, org_id: ObjectId, slug: str) -> H | None:
        doc = await self.entries(engine).find_one({"orgId": org_id, "slug": slug})
        return self.entry.model_validate_doc(doc) if doc else None

    async def find_version(
        self, engine: AIOEngine, org_id: ObjectId, slug: str, number: int | None = None
    ) -> V | None:
        """Version `number` of the slug (None: its latest); also of a deleted one."""
        filter_: dict[str, Any] = {"orgId": org_id, "slug": slug}
        if number is not None:
            if not 0 < number <= LAST_VERSION:
                return None
            filter_["version"] = number
        doc = await self.versions(engine).find_one(filter_, sort=[("version", -1)])
        return self.version.model_validate_doc(doc) if doc else None

    async def current(self, engine: AIOEngine, org_id: ObjectId, slug: str) -> V:
        """The version the list's entry names (a deleted document is missing)."""
        entry = await self.find_entry(engine, org_id, slug)
        found = await self.find_version(engine, org_id, slug, entry.version) if entry else None  # type: ignore[attr-defined]
        if found is None:
            raise self.missing()
        return found

    async def by_id(self, engine: AIOEngine, version_id: ObjectId) -> V | None:
        doc = await self.versions(engine).find_one({"_id": version_id})
        return self.version.model_validate_doc(doc) if doc else None

    async def history(
        self,
        engine: AIOEngine,
        org_id: ObjectId,
        slug: str,
        projection: dict[str, int] | None = None,
    ) -> list[dict[str, Any]]:
        """Every version of the slug, newest first (stored documents)."""
        docs = (
            await self.versions(engine)
            .find({"orgId": org_id, "slug": slug}, projection)
            .sort("version", -1)
            .to_list(None)
        )
        if not docs:
            raise self.missing()
        return list(docs)

    async def page(
        self, engine: AIOEngine, org_id: ObjectId, after: str | None, limit: int
    ) -> tuple[list[H], bool]:
        """The list's entries by slug, after the slug `after`."""
        return await keyset_page(
            self.entries(engine),
            self.entry,
            {"orgId": org_id},
            [("slug", 1)],
            [after] if after else None,
            limit,
        )

    async def write(
        self,
        engine: AIOEngine,
        make: Callable[[int], V],
        org_id: ObjectId,
        slug: str,
        *,
        must_exist: bool,
        based_on: int | None = None,
    ) -> V:
        """The next version, `make(number)` (checked by `make`), then the entry moved to it.
        A creation (`must_exist=False`) continues after the slug's latest version; an edit
        names the version it was made from (`based_on`)."""
        entry = await self.find_entry(engine, org_id, slug)
        if must_exist and entry is None:
            raise self.missing()
        if not must_exist and entry is not None:
            raise self.exists(slug)
        if based_on is None:
            latest = await self.find_version(engine, org_id, slug)
            based_on = latest.version if latest else 0  # type: ignore[attr-defined]
        version = make(based_on + 1)
        try:
            await self.versions(engine).insert_one(version.model_dump_doc())
        except DuplicateKeyError:
            raise self.changed() from None
        await self.move_entry(engine, version, may_create=not must_exist)
        return version

    async def move_entry(self, engine: AIOEngine, version: V, *, may_create: bool) -> None:
        """The slug's entry moved forward to `version` (created only when `may_create`)."""
        stored = version.model_dump_doc()
        with contextlib.suppress(DuplicateKeyError):  # a later version is the entry already
            await self.entries(engine).update_one(
                {
                    "orgId": stored["orgId"],
                    "slug": stored["slug"],
                    "version": {"$lt": stored["version"]},
                },
                {
                    "$set": {
                        "version": stored["version"],
                        "versionId": stored["_id"],
                        **self.summary(version),
                    },
                    "$setOnInsert": {"_id": ObjectId(), "createdAt": stored["createdAt"]},
                },
                upsert=may_create,
            )

    async def remove(self, engine: AIOEngine, org_id: ObjectId, slug: str) -> dict[str, Any]:
        """Out of the list (its versions stay); the removed entry."""
        removed = await self.entries(engine).find_one_and_delete({"orgId": org_id, "slug": slug})
        if removed is None:
            raise self.missing()
        return dict(removed)

    async def forget_org(self, engine: AIOEngine, org_id: ObjectId) -> None:
        """A deleted organization's list (pinned versions stay)."""
        await self.entries(engine).delete_many({"orgId": org_id})
