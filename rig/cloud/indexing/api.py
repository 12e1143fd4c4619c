"""Fleet indexing's control plane (UpdateIndexingConfiguration, GetIndexingConfiguration,
DescribeIndex, ListIndices, SearchIndex) and the dynamic thing groups' (Create/Update/
DeleteDynamicThingGroup), mixed into the `Cloud` facade (rig/cloud/api.py). AWS operation
names in snake_case, the API's camelCase response shapes."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from rig.cloud.core.control_plane import ControlPlane
from rig.cloud.core.errors import InvalidRequestException, ResourceNotFoundException
from rig.cloud.core.store import Store
from rig.cloud.indexing import query
from rig.cloud.indexing.documents import ThingDocuments
from rig.cloud.indexing.dynamic import DynamicGroups
from rig.cloud.indexing.errors import InvalidQueryException
from rig.cloud.indexing.store import QUERY_VERSION, THING_INDEX, IndexingConfiguration
from rig.cloud.registry import Registry

MAX_SEARCH_RESULTS = 500  # ours: the API reference gives no maximum or default


def _parse(query_string: Any) -> query.Node:
    if not isinstance(query_string, str) or not query_string:
        raise InvalidRequestException("queryString must be a non-empty string")
    try:
        return query.parse(query_string)
    except query.QuerySyntaxError as exc:
        raise InvalidQueryException(str(exc)) from exc


def _check_query_version(query_version: str | None) -> str:
    if query_version not in (None, QUERY_VERSION):
        raise InvalidRequestException(
            f"queryVersion {query_version!r} is not supported: the one version is {QUERY_VERSION}"
        )
    return QUERY_VERSION


def _token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after(next_token: str | None) -> str | None:
    if next_token is None:
        return None
    try:
        return base64.urlsafe_b64decode(next_token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestException(f"invalid nextToken {next_token!r}") from exc


class IndexingApi(ControlPlane):
    store: Store
    registry: Registry
    indexing_configuration: IndexingConfiguration
    thing_documents: ThingDocuments
    dynamic_groups: DynamicGroups

    # ---- the index

    def update_indexing_configuration(
        self,
        thing_indexing_configuration: dict[str, Any] | None = None,
        thing_group_indexing_configuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if thing_group_indexing_configuration not in (None, {"thingGroupIndexingMode": "OFF"}):
            raise InvalidRequestException(  # ours: the AWS_ThingGroups index
                "thing group indexing is not modelled by the reference cloud"
            )
        if thing_indexing_configuration is None:
            return {}
        dynamic = len(DynamicGroups.groups(self.store.read()))
        self.indexing_configuration.update(thing_indexing_configuration, dynamic)
        with self.store.write() as db:  # what dynamic groups' queries see may have changed
            self.dynamic_groups.populate_all(db)
        return {}

    def get_indexing_configuration(self) -> dict[str, Any]:
        current = self.indexing_configuration.current()
        return {
            "thingIndexingConfiguration": {
                "thingIndexingMode": current["thingIndexingMode"],
                "thingConnectivityIndexingMode": current["thingConnectivityIndexingMode"],
            },
            "thingGroupIndexingConfiguration": {"thingGroupIndexingMode": "OFF"},
        }

    def _active_index(self, index_name: str | None) -> dict[str, str]:
        name = index_name or THING_INDEX
        current = self.indexing_configuration.current()
        if name != THING_INDEX or current["thingIndexingMode"] == "OFF":
            raise ResourceNotFoundException(f"Index {name} does not exist")
        return current

    def describe_index(self, index_name: str) -> dict[str, Any]:
        current = self._active_index(index_name)
        schema = current["thingIndexingMode"]
        if current["thingConnectivityIndexingMode"] == "STATUS":
            schema += "_AND_CONNECTIVITY_STATUS"
        # built at once: the documents are the live tables
        return {"indexName": THING_INDEX, "indexStatus": "ACTIVE", "schema": schema}

    def list_indices(
        self, max_results: int | None = None, next_token: str | None = None
    ) -> dict[str, Any]:
        del max_results, next_token  # one index at most
        off = self.indexing_configuration.current()["thingIndexingMode"] == "OFF"
        return {"indexNames": [] if off else [THING_INDEX]}

    def search_index(
        self,
        query_string: str,
        index_name: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
        query_version: str | None = None,
    ) -> dict[str, Any]:
        _check_query_version(query_version)
        if max_results is not None and not 1 <= max_results <= MAX_SEARCH_RESULTS:
            raise InvalidRequestException(
                f"maxResults must be 1..{MAX_SEARCH_RESULTS}, got {max_results}"
            )
        current = self._active_index(index_name)
        node = _parse(query_string)
        after = _after(next_token)
        limit = max_results or MAX_SEARCH_RESULTS
        found: list[dict[str, Any]] = []
        response: dict[str, Any] = {}
        for indexed in self.thing_documents.build(self.store.read(), current):
            if after is not None and indexed.name <= after:
                continue
            if query.matches(node, indexed.document):
                if len(found) == limit:
                    response["nextToken"] = _token(found[-1]["thingName"])
                    break
                found.append(indexed.item)
        response["things"] = found  # no `thingGroups`: the guide's example shows none
        return response

    # ---- dynamic thing groups

    def create_dynamic_thing_group(
        self,
        thing_group_name: str,
        query_string: str,
        thing_group_properties: dict[str, Any] | None = None,
        index_name: str | None = None,
        query_version: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        del tags  # not modelled
        version = _check_query_version(query_version)
        self._active_index(index_name)  # dynamic groups need fleet indexing on (guide)
        _parse(query_string)  # before anything is created
        created = self.registry.create_thing_group(
            thing_group_name,
            thing_group_properties=thing_group_properties,
            dynamic=(THING_INDEX, query_string, version),
        )
        with self.store.write() as db:
            self.dynamic_groups.populate(db, thing_group_name)
        return created | {
            "indexName": THING_INDEX,
            "queryString": query_string,
            "queryVersion": version,
        }

    def _dynamic_group(self, thing_group_name: str) -> dict[str, Any]:
        described = self.registry.describe_thing_group(thing_group_name)
        if "queryString" not in described:
            raise InvalidRequestException(
                f"Thing group {thing_group_name} is a static thing group: use update-thing-group"
            )
        return described

    def update_dynamic_thing_group(
        self,
        thing_group_name: str,
        thing_group_properties: dict[str, Any],
        expected_version: int | None = None,
        index_name: str | None = None,
        query_string: str | None = None,
        query_version: str | None = None,
    ) -> dict[str, Any]:
        self._dynamic_group(thing_group_name)
        version = _check_query_version(query_version)
        if index_name is not None:
            self._active_index(index_name)
        if query_string is not None:
            _parse(query_string)  # before anything is changed
        updated = self.registry.update_thing_group(
            thing_group_name, thing_group_properties, expected_version
        )
        if query_string is not None:
            with self.store.write() as db:
                db.execute(
                    "UPDATE thing_groups SET query_string = ?, query_version = ? WHERE name = ?",
                    (query_string, version, thing_group_name),
                )
                self.dynamic_groups.populate(db, thing_group_name)
        return updated

    def delete_dynamic_thing_group(
        self, thing_group_name: str, expected_version: int | None = None
    ) -> dict[str, Any]:
        return self._mutating(
            self.registry.delete_thing_group(thing_group_name, expected_version, dynamic=True)
        )
