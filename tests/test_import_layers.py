"""No import circles in envmon's own code (issue 27: the ingest side "with no circle and a layout
that shows it"). The graph is grimp's (the one import-linter is built on): it reads every import
statement, those inside functions too, so an import moved into a function to dodge a circle at
import time is still an edge here and still fails.

Circles older than issue 27's move are listed in KNOWN_CIRCLES: a circle outside them fails, and one
of them that grows fails too. Break one, and its entry goes (test_known_circles_are_still_there
says when)."""
from __future__ import annotations

import itertools
from functools import lru_cache

import grimp
import pytest

INGEST = "pipelines.ingest"

# Circles inside pipelines/ that predate the ingest package (2026-12-07), each with why it stands:
KNOWN_CIRCLES = (
    # the config reads the simulator's fault spec; the parsers read the scope, which reads the config
    frozenset({"pipelines.config", "pipelines.scope", "pipelines.sources.files", "pipelines.sources.live",
               "pipelines.sources.partner_edr", "pipelines.sources.samples", "pipelines.sources.simulator"}),
    # the alerts package's __init__ loads its submodules when used; they take deliver/EpisodeNotFound from it
    frozenset({"pipelines.alerts", "pipelines.alerts.operational", "pipelines.alerts.sections"}),
    # publishing an issue renders it; an issue's revision publishes again
    frozenset({"pipelines.reports.issues", "pipelines.reports.publish"}),
)

# warehouse/ reaching into the ingest package: one function, reassessing the days a registry version changed
KNOWN_WAREHOUSE_TO_INGEST = {("warehouse.registry_store", "pipelines.ingest.reassess")}


@lru_cache(maxsize=None)
def graph(*packages: str) -> grimp.ImportGraph:
    return grimp.build_graph(*packages, cache_dir=None)


def circles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan): each is a circle, or
    several that share modules."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = itertools.count()

    def visit(module: str) -> None:
        index[module] = low[module] = next(counter)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def _explain(graph: grimp.ImportGraph, circle: frozenset[str]) -> str:
    lines = []
    for importer in sorted(circle):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & circle):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(f"line {d['line_number']}: {d['line_contents'].strip()}" for d in details[:2])
            lines.append(f"  {importer} -> {imported} ({where})")
    return "\n".join(lines)


def test_no_new_import_circle_in_pipelines():
    pipelines = graph("pipelines")
    new = [c for c in circles(pipelines) if not any(c <= known for known in KNOWN_CIRCLES)]
    assert not new, "import circles in pipelines/:\n" + "\n\n".join(_explain(pipelines, c) for c in new)


def test_the_ingest_package_and_the_nightly_steps_are_in_no_circle():
    """The two circles issue 27 names: pipelines.ingest <-> bulk_ingest, and alerts <-> nightly."""
    pipelines = graph("pipelines")
    for circle in circles(pipelines):
        assert not any(m == INGEST or m.startswith(INGEST + ".") for m in circle), _explain(pipelines, circle)
        assert "pipelines.nightly" not in circle, _explain(pipelines, circle)


def test_the_ingest_package_is_layered_as_its_docstring_says():
    """collect / reassess / history (independent of each other) over payloads over batches over
    archive: a lower module never imports a higher one, directly or through other modules."""
    layers = [grimp.Layer("collect", "reassess", "history", independent=True), "payloads", "batches", "archive"]
    illegal = graph("pipelines").find_illegal_dependencies_for_layers(layers=layers, containers={INGEST})
    assert not illegal, "\n".join(f"{d.importer} -> {d.imported}: {[list(r.middle) for r in d.routes][:3]}"
                                  for d in illegal)


def test_nothing_below_the_ingest_package_imports_it():
    """The warehouse, the nightly steps, the alerts and the sources are below pipelines.ingest:
    they never import it (the CLI, the DAGs, the partner pull, stewardship, replay and the reports
    may)."""
    everything = graph("pipelines", "warehouse", "dashboards")
    below = ("warehouse", "pipelines.nightly", "pipelines.alerts", "pipelines.sources.files",
             "pipelines.sources.live", "pipelines.sources.simulator", "pipelines.quality", "pipelines.assessment",
             "pipelines.config", "pipelines.observations", "pipelines.scope", "dashboards")
    found = {(importer, imported) for imported in everything.find_descendants(INGEST)
             for importer in everything.find_modules_that_directly_import(imported)
             if importer.split(".")[0] in below or any(importer == b or importer.startswith(b + ".") for b in below)}
    assert found == KNOWN_WAREHOUSE_TO_INGEST, sorted(found - KNOWN_WAREHOUSE_TO_INGEST)


def test_the_warehouse_never_imports_the_dashboards():
    everything = graph("pipelines", "warehouse", "dashboards")
    found = sorted((m, i) for m in everything.find_descendants("warehouse") | {"warehouse"}
                   for i in everything.find_modules_directly_imported_by(m) if i.split(".")[0] == "dashboards")
    assert not found, found


@pytest.mark.parametrize("known", KNOWN_CIRCLES, ids=lambda c: sorted(c)[0])
def test_known_circles_are_still_there(known):
    """A known circle that is broken is taken off the list (so that it cannot come back unseen)."""
    assert any(known <= c for c in circles(graph("pipelines"))), f"no longer a circle, remove it: {sorted(known)}"
