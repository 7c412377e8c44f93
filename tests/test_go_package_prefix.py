"""A third-party tree without go_package: [tool.contracts] supplies it, files untouched.

gen (protoc-gen-go, protoc-gen-go-grpc, our Go clients) and the GO_PACKAGE_MISMATCH
lint rule must all see the same effective go_package.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_contracts, run_go, write_tree

from codegen.gen.go_client import Parameters

MODULE = "example.com/acme/gen/go"

# Two directories, a cross-directory import and a service: every place a Go
# import path is needed (the plugins' imports, the clients' type references).
TREE = {
    "buf.yaml": "version: v2\n",
    "acme/weather/v1/weather.proto": """
        syntax = "proto3";
        package acme.weather.v1;
        import "acme/common/v1/place.proto";
        message Forecast { acme.common.v1.Place place = 1; double celsius = 2; }
        message GetForecastRequest { acme.common.v1.Place place = 1; }
        service WeatherService {
          rpc GetForecast(GetForecastRequest) returns (Forecast);
          rpc Lookup(acme.common.v1.Place) returns (Forecast);
        }
    """,
    "acme/common/v1/place.proto": """
        syntax = "proto3";
        package acme.common.v1;
        message Place { string name = 1; }
    """,
}


def _settings(extra: str) -> str:
    return f'[tool.contracts]\ngo_module = "{MODULE}"\n{extra}'


def _lint_rules(root: Path) -> list[tuple[str, str]]:
    result = run_contracts("lint", "--format", "json", cwd=root)
    assert result.code in (0, 1), result.stderr
    return [(f["rule"], f["file"]) for f in json.loads(result.stdout)]


def test_prefix_generates_a_module_that_builds_and_vets(tmp_path: Path) -> None:
    write_tree(tmp_path, {**TREE, "pyproject.toml": _settings(f'go_package_prefix = "{MODULE}"\n')})
    before = {p: (tmp_path / p).read_bytes() for p in TREE}
    assert ("GO_PACKAGE_MISMATCH", "acme/common/v1/place.proto") not in _lint_rules(tmp_path)
    gen = run_contracts("gen", "--target", "go", cwd=tmp_path)
    assert gen.code == 0, gen.stderr
    out = tmp_path / "generated" / "go"
    assert (out / "acme/weather/v1/weather.pb.go").read_text().count("package weatherv1") == 1
    assert (out / "acme/weather/v1/weather_client.go").is_file()
    assert f'"{MODULE}/acme/common/v1"' in (out / "acme/weather/v1/weather.pb.go").read_text()
    assert f'"{MODULE}/acme/common/v1"' in (out / "acme/weather/v1/weather_client.go").read_text()
    for args in (("build", "./..."), ("vet", "./...")):
        result = run_go(out, *args)
        assert result.returncode == 0, f"go {' '.join(args)}: {result.stderr}"
    # The third-party files are read, never edited.
    assert {p: (tmp_path / p).read_bytes() for p in TREE} == before


def test_without_the_prefix_lint_and_gen_name_the_missing_go_package(tmp_path: Path) -> None:
    write_tree(tmp_path, {**TREE, "pyproject.toml": _settings("")})
    assert ("GO_PACKAGE_MISMATCH", "acme/common/v1/place.proto") in _lint_rules(tmp_path)
    gen = run_contracts("gen", "--target", "go", cwd=tmp_path)
    assert gen.code != 0
    assert "go_package" in gen.stderr


def test_a_per_file_override_places_that_file_and_lint_judges_it(tmp_path: Path) -> None:
    override = (
        f'go_package_prefix = "{MODULE}"\n\n[tool.contracts.go_package_override]\n'
        f'"acme/common/v1/place.proto" = "{MODULE}/shared;shared"\n'
    )
    # Lint judges the override as gen uses it: one that gives weather's import path
    # a second package name is what protoc-gen-go refuses ("inconsistent names").
    clash = override.replace(f"{MODULE}/shared;shared", f"{MODULE}/acme/weather/v1;other")
    write_tree(tmp_path, {**TREE, "pyproject.toml": _settings(clash)})
    assert ("GO_PACKAGE_MISMATCH", "acme/weather/v1/weather.proto") in _lint_rules(tmp_path)
    # Any import path inside the module builds, whichever folder it names.
    write_tree(tmp_path, {**TREE, "pyproject.toml": _settings(override)})
    findings = _lint_rules(tmp_path)
    assert not [f for f in findings if f[0] == "GO_PACKAGE_MISMATCH"], findings
    gen = run_contracts("gen", "--target", "go", cwd=tmp_path)
    assert gen.code == 0, gen.stderr
    out = tmp_path / "generated" / "go"
    assert (out / "shared/place.pb.go").read_text().count("package shared") == 1
    assert f'"{MODULE}/shared"' in (out / "acme/weather/v1/weather_client.go").read_text()
    result = run_go(out, "build", "./...")
    assert result.returncode == 0, result.stderr


def test_bad_settings_are_refused_with_their_line(tmp_path: Path) -> None:
    cases = {
        'go_package_prefix = "elsewhere.com/x"\n': (
            "pyproject.toml:3: go_package_prefix 'elsewhere.com/x' is outside go_module"
        ),
        'go_package_prefix = "Not A Path"\n': (
            "pyproject.toml:3: go_package_prefix 'Not A Path' is not a valid Go import path"
        ),
        '[tool.contracts.go_package_override]\n"a.proto" = "x.com/a;1bad"\n': (
            "go_package_override['a.proto'] = 'x.com/a;1bad' is not"
        ),
        '[tool.contracts.go_package_override]\n"acme/nope.proto" = "x.com/a"\n': (
            "go_package_override names 'acme/nope.proto', not a file of the workspace"
        ),
    }
    write_tree(tmp_path, TREE)
    for extra, message in cases.items():
        (tmp_path / "pyproject.toml").write_text(_settings(extra))
        for command in (("lint",), ("gen", "--target", "go")):
            result = run_contracts(*command, cwd=tmp_path)
            assert result.code == 2, (extra, command, result.stderr)
            assert message in result.stderr, (extra, command, result.stderr)


def test_the_client_plugin_takes_protoc_gen_go_m_parameters() -> None:
    params = Parameters.parse(f"module={MODULE},Macme/common/v1/place.proto={MODULE}/p;p")
    assert params.module == MODULE
    assert params.go_packages == {"acme/common/v1/place.proto": f"{MODULE}/p;p"}
