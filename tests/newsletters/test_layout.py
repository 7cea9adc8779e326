"""The folder tree says what the system does, and imports run one way (README "Where things are")."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("newsletters", "subscribers", "digest_site")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports() -> dict[str, set[str]]:
    """Every project module (migrations aside) and the project modules it imports, at any depth."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = module_name(path)
            imported = set()
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.add(node.module)
                    imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            graph[name] = {i for i in imported if i.split(".")[0] in PACKAGES}
    return graph


GRAPH = project_imports()


def importers_of(prefix: str) -> set[str]:
    return {
        module
        for module, imported in GRAPH.items()
        if not module.startswith(prefix) and any(i == prefix or i.startswith(prefix + ".") for i in imported)
    }


def test_the_tree_has_the_four_concerns_and_the_shared_modules():
    newsletters = REPO_ROOT / "newsletters"
    for package in ("authoring", "mail", "delivery", "archive", "admin"):
        assert (newsletters / package / "__init__.py").is_file(), package
    for module in ("models", "rendering", "tasks", "urls", "apps"):
        assert (newsletters / f"{module}.py").is_file(), module
    loose = sorted(p.name for p in newsletters.glob("*.py"))
    assert loose == ["__init__.py", "apps.py", "models.py", "rendering.py", "tasks.py", "urls.py"]


def test_every_module_of_the_four_concerns_opens_with_a_docstring_saying_its_job():
    paths = [
        path
        for package in ("authoring", "mail", "delivery", "archive", "admin")
        for path in (REPO_ROOT / "newsletters" / package).glob("*.py")
    ] + [REPO_ROOT / "newsletters" / name for name in ("rendering.py", "tasks.py")]
    missing = [path.name for path in paths if ast.get_docstring(ast.parse(path.read_text("utf-8"))) is None]
    assert missing == []


@pytest.mark.parametrize(
    "package, allowed",
    [
        # Django's admin discovery imports newsletters.admin by name; nothing else may.
        ("newsletters.admin", set()),
        # The public site is reached through URLs only.
        ("newsletters.archive", {"newsletters.urls"}),
    ],
)
def test_nothing_imports_the_admin_or_the_archive(package, allowed):
    assert importers_of(package) <= allowed


def test_rendering_models_authoring_and_mail_never_reach_up_into_the_send_or_the_screens():
    for module, imported in GRAPH.items():
        if module in ("newsletters.rendering", "newsletters.models") or module.startswith(
            ("newsletters.authoring", "newsletters.mail")
        ):
            up = {
                i
                for i in imported
                if i.startswith(
                    ("newsletters.delivery", "newsletters.admin", "newsletters.archive", "newsletters.tasks")
                )
            }
            assert up == set(), module
    assert GRAPH["newsletters.rendering"] == set()


# Inside delivery/: schedule → planning → ledger; sending → senders, ledger (and the rate limit);
# schedule and sending ask policies what to do about failures, complaints and readers who left.
DELIVERY_EDGES = {
    "schedule": {"planning", "ledger", "policies"},
    "planning": {"ledger"},
    "sending": {"senders", "ledger", "ratelimit", "policies"},
    "policies": set(),
    "senders": set(),
    "ledger": set(),
    "ratelimit": set(),
}


@pytest.mark.parametrize("module", sorted(DELIVERY_EDGES))
def test_delivery_imports_run_one_way(module):
    imported = GRAPH[f"newsletters.delivery.{module}"]
    inside = {i.split(".")[2] for i in imported if i.startswith("newsletters.delivery.")}
    assert inside <= DELIVERY_EDGES[module]


def test_the_only_import_back_up_from_the_send_is_the_task_enqueue():
    callers = {
        m
        for m, imported in GRAPH.items()
        if m.startswith("newsletters.delivery") and any(i.startswith("newsletters.tasks") for i in imported)
    }
    assert callers == {"newsletters.delivery.ledger"}
