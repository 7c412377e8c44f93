"""`contracts registry push` and `registry check`, and `contracts check`'s registry step:
against a real registry process (`contracts registry serve`), against a store file
used directly, behind the server's basic and bearer auth, and against addresses where nothing
answers."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from compat_schemas import Compiler, p3
from conftest import copy_repo_workspace, git, run_contracts, run_contracts_env
from registry_process import RegistryProcess, free_port, running_registry

from compat_checks.compat import Mode, check
from compat_checks.registry.service import messages
from compat_checks.registry.sqlite_store import SQLiteStore
from compat_checks.registry.targets import parse_message

PAYLOADS = "fleet/tasks/v1/task_payloads.proto"
ENVELOPE = "fleet/tasks/v1/envelope.proto"
SERVICE = "fleet/tasks/v1/task_service.proto"
SUBJECTS = sorted(
    [
        "fleet/adapter/v1/adapter_service.proto",
        "fleet/inference/v1/inference_service.proto",
        "fleet/inference/v1/tensor.proto",
        PAYLOADS,
        ENVELOPE,
        SERVICE,
    ]
)
# A field of GenerateReportTask: string -> int64 moves it to another wire group.
FIELD = "  string report_id = 1;"
INCOMPATIBLE = "  int64 report_id = 1;"
DIFFERENCE = "FIELD_SCALAR_KIND_CHANGED"
PATH = "#/GenerateReportTask/1"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repo's contracts, generated and committed on main (as CI has them), once."""
    root = copy_repo_workspace(tmp_path_factory.mktemp("generated") / "ws")
    assert run_contracts("gen", cwd=root).code == 0
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "contracts")
    return root


def _copy(generated: Path, dest: Path) -> Path:
    shutil.copytree(generated, dest, symlinks=True)
    return dest


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / "contracts" / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _subject(subject: str) -> str:
    return urllib.parse.quote(subject, safe="")


def _latest(server: RegistryProcess, subject: str) -> dict[str, object]:
    answer = server.request("GET", f"/subjects/{_subject(subject)}/versions/latest")
    assert answer.status == 200, answer.text
    body: dict[str, object] = answer.body
    return body


def test_push_check_and_contracts_check_against_a_registry_process(
    generated: Path, tmp_path: Path
) -> None:
    root = _copy(generated, tmp_path / "ws")
    with running_registry(tmp_path / "registry.db") as server:
        url = server.url
        pushed = run_contracts("registry", "push", "--url", url, "--format", "json", cwd=root)
        assert pushed.code == 0, pushed.stderr
        first = {r["subject"]: r for r in json.loads(pushed.stdout)}
        assert sorted(first) == SUBJECTS
        assert {r["status"] for r in first.values()} == {"registered"}
        # Imports were registered first; each is a reference by import path, and the
        # well-known types (timestamp, duration) are none.
        subjects = list(first)
        assert subjects.index(PAYLOADS) < subjects.index(ENVELOPE) < subjects.index(SERVICE)
        assert server.request("GET", "/subjects").body == SUBJECTS
        envelope = _latest(server, ENVELOPE)
        assert envelope["references"] == [{"name": PAYLOADS, "subject": PAYLOADS, "version": 1}]
        assert envelope["schema"] == (root / "contracts" / ENVELOPE).read_text()

        again = run_contracts("registry", "push", "--url", url, "--format", "json", cwd=root)
        assert again.code == 0, again.stderr
        second = {r["subject"]: r for r in json.loads(again.stdout)}
        assert {r["status"] for r in second.values()} == {"unchanged"}
        assert {s: r["id"] for s, r in second.items()} == {s: r["id"] for s, r in first.items()}
        assert server.request("GET", f"/subjects/{_subject(PAYLOADS)}/versions").body == [1]

        clean = run_contracts("registry", "check", "--url", url, cwd=root)
        assert (clean.code, clean.stdout) == (0, ""), clean.stderr
        assert f"{ENVELOPE}: unchanged (version 1, id {first[ENVELOPE]['id']})" in clean.stderr

        _edit(root, PAYLOADS, FIELD, INCOMPATIBLE)
        checked = run_contracts("registry", "check", "--url", url, "--format", "json", cwd=root)
        assert checked.code == 1, checked.stderr
        [finding] = json.loads(checked.stdout)
        assert (finding["rule"], finding["path"], finding["file"], finding["line"]) == (
            DIFFERENCE,
            PATH,
            f"contracts/{PAYLOADS}",
            15,
        )
        assert finding["message"].startswith(f"subject '{PAYLOADS}' (BACKWARD): {PATH}: ")
        assert "BACKWARD" in finding["violates"]
        assert f"{PAYLOADS}: incompatible (BACKWARD; 1 difference(s))" in checked.stderr
        # The importing file is judged against the import's registered version.
        assert f"{ENVELOPE}: compatible (BACKWARD)" in checked.stderr

        refused = run_contracts("registry", "push", "--url", url, cwd=root)
        assert refused.code == 1, refused.stderr
        assert "nothing registered" in refused.stderr and DIFFERENCE in refused.stdout
        assert server.request("GET", f"/subjects/{_subject(PAYLOADS)}/versions").body == [1]

        gate = run_contracts("check", "--registry-url", url, "--format", "json", cwd=root)
        assert gate.code == 1, gate.stderr
        rules = {(f["rule"], f.get("path", "")) for f in json.loads(gate.stdout)}
        assert (DIFFERENCE, PATH) in rules  # the registry step
        assert ("FIELD_SAME_TYPE", "") in rules  # breaking, in the same report
        assert f"registry {url}: 6 subject(s)" in gate.stderr

        # A compatible change: a new version of the file, and of every file importing
        # it (a reference is part of a schema), each referencing the new version.
        _edit(root, PAYLOADS, INCOMPATIBLE, FIELD + "\n  string note = 90;")
        grown = run_contracts("registry", "push", "--url", url, cwd=root)
        assert grown.code == 0, grown.stderr
        assert f"{PAYLOADS}: registered (BACKWARD; version 2," in grown.stdout
        assert _latest(server, ENVELOPE)["references"] == [
            {"name": PAYLOADS, "subject": PAYLOADS, "version": 2}
        ]
        assert _latest(server, SERVICE)["version"] == 2
        assert "fleet/inference/v1/tensor.proto: unchanged" in grown.stdout


def test_the_same_against_a_store_file_and_from_the_workspace_configuration(
    generated: Path, tmp_path: Path
) -> None:
    root = _copy(generated, tmp_path / "ws")
    skipped = run_contracts("check", cwd=root)
    assert skipped.code == 0, skipped.stderr
    assert "registry: skipped (not configured" in skipped.stderr

    store = tmp_path / "store.db"
    pushed = run_contracts("registry", "push", "--store", str(store), cwd=root)
    assert pushed.code == 0, pushed.stderr
    assert pushed.stdout.count(": registered (version 1, id ") == 6
    again = run_contracts("registry", "push", "--store", str(store), cwd=root)
    assert again.stdout.count(": unchanged (version 1, id ") == 6, again.stderr

    # The store named in [tool.contracts.registry] (relative to the workspace).
    shutil.copy(store, root / "registry.db")
    with (root / "pyproject.toml").open("a") as f:
        f.write('\n[tool.contracts.registry]\nstore = "registry.db"\n')
    git(root, "commit", "-qam", "registry")
    _edit(root, PAYLOADS, FIELD, INCOMPATIBLE)
    checked = run_contracts("registry", "check", cwd=root)
    assert checked.code == 1, checked.stderr
    assert (
        f"contracts/{PAYLOADS}:15:3 {DIFFERENCE} subject '{PAYLOADS}' (BACKWARD): {PATH}: "
        in checked.stdout
    )
    gate = run_contracts("check", "--format", "github", cwd=root)
    assert gate.code == 1, gate.stderr
    assert f"file=contracts/{PAYLOADS},line=15,col=3,title={DIFFERENCE}::" in gate.stdout
    assert "registry store " in gate.stderr and "1 incompatible" in gate.stderr
    versions = SQLiteStore(root / "registry.db").versions(PAYLOADS, deleted=False)
    assert [v.version for v in versions] == [1]  # check registered nothing


def test_record_strategy_names_subjects_by_message(tmp_path: Path) -> None:
    root = copy_repo_workspace(tmp_path / "ws")
    with (root / "pyproject.toml").open("a") as f:
        f.write('\n[tool.contracts.registry]\nsubject_strategy = "record"\n')
    store = tmp_path / "store.db"
    pushed = run_contracts("registry", "push", "--store", str(store), cwd=root)
    assert pushed.code == 0, pushed.stderr
    db = SQLiteStore(store)
    subjects = db.subjects(deleted=False)
    assert {"fleet.tasks.v1.TaskEnvelope", "fleet.tasks.v1.GenerateReportTask"} <= set(subjects)
    # An imported file is also registered under its import path, the subject its
    # references name; a file nothing imports only under its messages' names.
    assert PAYLOADS in subjects and SERVICE not in subjects
    [envelope] = db.versions("fleet.tasks.v1.TaskEnvelope", deleted=False)
    assert [(r.name, r.subject) for r in envelope.schema.references] == [(PAYLOADS, PAYLOADS)]


def test_unsupported_or_unsafe_settings_are_refused(tmp_path: Path) -> None:
    root = copy_repo_workspace(tmp_path / "ws")
    base = (root / "pyproject.toml").read_text()
    line = base.count("\n") + 3
    cases = {
        'subject_strategy = "topic"': (
            f"pyproject.toml:{line}: subject_strategy 'topic' in [tool.contracts.registry] "
            "is not supported; use one of: file, record"
        ),
        'url = "http://ci:secret@registry.internal"': "holds credentials",
        'url = "http://r.internal"\nstore = "r.db"': "sets both url and store",
        'registry_url = "http://r.internal"': "unknown key 'registry_url'",
    }
    for setting, message in cases.items():
        (root / "pyproject.toml").write_text(f"{base}\n[tool.contracts.registry]\n{setting}\n")
        result = run_contracts("registry", "check", cwd=root)
        assert result.code == 2, (setting, result.stderr)
        assert message in result.stderr
        assert "secret" not in result.stderr
    (root / "pyproject.toml").write_text(base)
    nothing = run_contracts("registry", "check", cwd=root)
    assert nothing.code == 2 and "no registry to talk to" in nothing.stderr
    missing = run_contracts("registry", "check", "--store", str(tmp_path / "none.db"), cwd=root)
    assert missing.code == 2 and f"registry store {tmp_path / 'none.db'} does not exist" in (
        missing.stderr
    )


def test_an_unreachable_or_silent_registry_is_named(generated: Path, tmp_path: Path) -> None:
    root = copy_repo_workspace(tmp_path / "ws")
    url = f"http://127.0.0.1:{free_port()}"
    result = run_contracts("registry", "check", "--url", url, cwd=root)
    assert result.code == 2
    assert f"cannot reach the schema registry at {url}: Connection refused" in result.stderr
    gate = run_contracts("check", "--registry-url", url, cwd=_copy(generated, tmp_path / "g"))
    assert gate.code == 2 and f"cannot reach the schema registry at {url}" in gate.stderr

    # A listener that accepts and never answers: the client's timeout ends the wait.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        quiet = f"http://127.0.0.1:{silent.getsockname()[1]}"
        slow = run_contracts("registry", "push", "--url", quiet, "--timeout", "1", cwd=root)
    assert slow.code == 2
    assert f"the schema registry at {quiet} did not answer GET " in slow.stderr
    assert "within 1 s" in slow.stderr


def test_credentials_from_the_environment_or_a_file_and_refusals_named(tmp_path: Path) -> None:
    root = copy_repo_workspace(tmp_path / "ws")
    users = tmp_path / "users"
    users.write_text("ci:s3cret\n")
    tokens = tmp_path / "tokens"
    tokens.write_text("tok-123\n")
    with running_registry(
        tmp_path / "registry.db", "--users-file", str(users), "--bearer-token-file", str(tokens)
    ) as server:
        url = server.url
        bare = run_contracts("registry", "push", "--url", url, cwd=root)
        assert bare.code == 2
        assert f"the schema registry at {url} refused GET /subjects/" in bare.stderr
        assert "401 Unauthorized (no credentials)" in bare.stderr

        wrong = run_contracts_env(
            "registry", "push", "--url", url, cwd=root,
            env={"CONTRACTS_REGISTRY_USER_INFO": "ci:wrong"},
        )  # fmt: skip
        assert wrong.code == 2
        assert "401 Unauthorized (basic auth for user 'ci' from CONTRACTS_REGISTRY_USER_INFO)" in (
            wrong.stderr
        )
        assert "wrong" not in wrong.stderr.replace("ci:wrong", "")  # the secret is not shown

        secrets = tmp_path / "registry-auth"
        secrets.write_text("ci:s3cret\n")
        good = run_contracts(
            "registry", "push", "--url", url, "--auth-file", str(secrets), cwd=root
        )
        assert good.code == 0, good.stderr
        assert good.stdout.count(": registered (version 1, id ") == 6

        token = run_contracts_env(
            "registry", "check", "--url", url, cwd=root,
            env={"CONTRACTS_REGISTRY_TOKEN": "tok-123"},
        )  # fmt: skip
        assert token.code == 0, token.stderr
        secrets.write_text("Bearer tok-123\n")
        from_file = run_contracts_env(
            "registry", "check", "--url", url, cwd=root,
            env={"CONTRACTS_REGISTRY_AUTH_FILE": str(secrets)},
        )  # fmt: skip
        assert from_file.code == 0, from_file.stderr

        twice = run_contracts_env(
            "registry", "check", "--url", url, cwd=root,
            env={"CONTRACTS_REGISTRY_TOKEN": "tok-123", "CONTRACTS_REGISTRY_USER_INFO": "a:b"},
        )  # fmt: skip
        assert twice.code == 2 and "registry credentials given twice" in twice.stderr


def test_a_verbose_message_reads_back_as_its_finding(compiler: Compiler) -> None:
    old = compiler.schema(p3("message Order {\n  string id = 1;\n  int32 count = 2;\n}\n"))
    new = compiler.schema(p3("message Order {\n  int64 id = 1;\n}\n"))
    findings = check(new, [old], Mode.FULL)
    assert len(findings) >= 2
    for finding, message in zip(findings, messages(findings), strict=True):
        back = parse_message(message)
        assert (back.rule, back.path, back.line, back.column, back.violates) == (
            finding.rule,
            finding.path,
            finding.line,
            finding.column,
            finding.violates,
        )
    # Another registry's wording keeps its text and the difference type it names.
    foreign = parse_message("Incompatibility{type:FIELD_KIND_CHANGED, location:#/Order/1}")
    assert (foreign.rule, foreign.path) == ("FIELD_KIND_CHANGED", "#/Order/1")


def test_files_that_need_an_import_not_yet_registered_wait_for_the_push(tmp_path: Path) -> None:
    root = copy_repo_workspace(tmp_path / "ws")
    store = str(tmp_path / "store.db")
    assert run_contracts("registry", "push", "--store", store, cwd=root).code == 0
    # The envelope now uses a message that only the working tree's payloads file has.
    with (root / "contracts" / PAYLOADS).open("a") as f:
        f.write("\nmessage ExtraTask {\n  string name = 1;\n}\n")
    with (root / "contracts" / ENVELOPE).open("a") as f:
        f.write("\nmessage ExtraEnvelope {\n  ExtraTask task = 1;\n}\n")
    # And the service imports a file the registry has never seen.
    (root / "contracts/fleet/tasks/v1/labels.proto").write_text(
        'syntax = "proto3";\npackage fleet.tasks.v1;\n\nmessage Labels {\n  string team = 1;\n}\n'
    )
    _edit(root, SERVICE, 'import "fleet/tasks/v1/envelope.proto";', (
        'import "fleet/tasks/v1/envelope.proto";\nimport "fleet/tasks/v1/labels.proto";'
    ))  # fmt: skip
    checked = run_contracts("registry", "check", "--store", store, cwd=root)
    assert (checked.code, checked.stdout) == (0, ""), checked.stderr
    assert f"{PAYLOADS}: compatible (BACKWARD)" in checked.stderr
    waits = f"{ENVELOPE}: not checked (BACKWARD; it compiles only with its imports as they are now"
    assert waits in checked.stderr
    assert "fleet/tasks/v1/labels.proto: new" in checked.stderr
    assert (
        f"{SERVICE}: not checked (imports fleet/tasks/v1/labels.proto, which the registry does "
        "not hold yet)"
    ) in checked.stderr

    pushed = run_contracts("registry", "push", "--store", store, cwd=root)
    assert pushed.code == 0, pushed.stderr
    for subject, version in ((PAYLOADS, 2), (ENVELOPE, 2), ("fleet/tasks/v1/labels.proto", 1)):
        assert (
            f"{subject}: registered (" in pushed.stdout
            and f"version {version}, id" in (pushed.stdout.split(f"{subject}: ")[1].splitlines()[0])
        )
    [*_, service] = SQLiteStore(Path(store)).versions(SERVICE, deleted=False)
    assert {r.name: r.version for r in service.schema.references} == {
        ENVELOPE: 2,
        "fleet/tasks/v1/labels.proto": 1,
    }
