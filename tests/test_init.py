"""`contracts init` on an existing proto tree: buf.yaml and [tool.contracts] that
lint and gen then work with, found from the files' imports."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from conftest import run_contracts, run_go, write_tree

GO_MODULE = "example.com/acme/gen/go"

# A third-party layout: the protos under proto/, imports written from there, no
# go_package anywhere, an existing pyproject.toml of the project's own.
TREE = {
    "pyproject.toml": '[project]\nname = "acme-service"\nversion = "1.0"\n',
    "proto/acme/weather/v1/weather.proto": """
        syntax = "proto3";
        package acme.weather.v1;
        import "acme/common/v1/place.proto";
        import "google/protobuf/timestamp.proto";
        // Forecast is a forecast.
        message Forecast {
          acme.common.v1.Place place = 1;
          google.protobuf.Timestamp at = 2;
        }
        // WeatherService serves forecasts.
        service WeatherService {
          // GetForecast returns one.
          rpc GetForecast(GetForecastRequest) returns (GetForecastResponse);
        }
        // GetForecastRequest asks.
        message GetForecastRequest { acme.common.v1.Place place = 1; }
        // GetForecastResponse answers.
        message GetForecastResponse { Forecast forecast = 1; }
    """,
    "proto/acme/common/v1/place.proto": """
        syntax = "proto3";
        package acme.common.v1;
        // Place is a place.
        message Place { string name = 1; }
    """,
    "README.md": "not a proto\n",
}


def test_init_then_lint_and_gen_work(tmp_path: Path) -> None:
    write_tree(tmp_path, TREE)
    result = run_contracts("init", "--go-module", GO_MODULE, cwd=tmp_path)
    assert result.code == 0, result.stderr
    buf = yaml.safe_load((tmp_path / "buf.yaml").read_text())
    assert buf["version"] == "v2"
    assert buf["modules"] == [{"path": "proto"}]
    assert buf["lint"] == {"use": ["STANDARD"]} and buf["breaking"] == {"use": ["FILE"]}
    pyproject = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert pyproject["project"] == {"name": "acme-service", "version": "1.0"}
    assert pyproject["tool"]["contracts"] == {
        "go_module": GO_MODULE,
        "go_package_prefix": GO_MODULE,
    }
    assert (tmp_path / "pyproject.toml").read_text().startswith(TREE["pyproject.toml"])

    lint = run_contracts("lint", cwd=tmp_path)
    assert lint.code in (0, 1), lint.stderr
    assert "GO_PACKAGE_MISMATCH" not in lint.stdout
    gen = run_contracts("gen", cwd=tmp_path)
    assert gen.code == 0, gen.stderr
    out = tmp_path / "generated"
    assert (out / "python/acme/weather/v1/weather_pb2.py").is_file()
    assert (out / "go/acme/weather/v1/weather_client.go").is_file()
    assert (out / "jsonschema/acme/weather/v1/Forecast.schema.json").is_file()
    built = run_go(out / "go", "build", "./...")
    assert built.returncode == 0, built.stderr


def test_init_refuses_to_overwrite_buf_yaml_unless_forced(tmp_path: Path) -> None:
    write_tree(tmp_path, {**TREE, "buf.yaml": "version: v2\n# ours\n"})
    result = run_contracts("init", "--go-module", GO_MODULE, cwd=tmp_path)
    assert result.code == 2
    assert "buf.yaml already exists" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "buf.yaml").read_text() == "version: v2\n# ours\n"
    # Nothing else was written either.
    assert (tmp_path / "pyproject.toml").read_text() == TREE["pyproject.toml"]
    forced = run_contracts("init", "--go-module", GO_MODULE, "--force", cwd=tmp_path)
    assert forced.code == 0, forced.stderr
    assert yaml.safe_load((tmp_path / "buf.yaml").read_text())["modules"] == [{"path": "proto"}]


def test_init_finds_several_roots_from_imports_and_keeps_existing_settings(
    tmp_path: Path,
) -> None:
    write_tree(
        tmp_path,
        {
            # api/ imports from third_party/, and a file at the top imports from api/.
            "api/acme/orders/v1/orders.proto": """
                syntax = "proto3";
                package acme.orders.v1;
                option go_package = "example.com/shop/gen/acme/orders/v1;ordersv1";
                import "vendor/money/v1/money.proto";
                message Order { vendor.money.v1.Money total = 1; }
            """,
            "third_party/vendor/money/v1/money.proto": """
                syntax = "proto3";
                package vendor.money.v1;
                option go_package = "example.com/shop/gen/vendor/money/v1;moneyv1";
                message Money { int64 units = 1; }
            """,
            "top.proto": """
                syntax = "proto3";
                package top;
                option go_package = "example.com/shop/gen;top";
                import "acme/orders/v1/orders.proto";
                message Top { acme.orders.v1.Order order = 1; }
            """,
            "node_modules/pkg/ignored.proto": 'syntax = "proto3";\npackage ignored;\n',
        },
    )
    result = run_contracts("init", cwd=tmp_path)
    assert result.code == 0, result.stderr
    buf = yaml.safe_load((tmp_path / "buf.yaml").read_text())
    assert buf["modules"] == [
        {"path": ".", "excludes": ["api", "node_modules", "third_party"]},
        {"path": "api"},
        {"path": "third_party"},
    ]
    # The Go module is read from the files' go_package options; none lacks one.
    assert tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["contracts"] == {
        "go_module": "example.com/shop/gen"
    }
    gen = run_contracts("gen", "--target", "go", cwd=tmp_path)
    assert gen.code == 0, gen.stderr

    # A second tree whose pyproject already has [tool.contracts]: kept as it is.
    other = tmp_path / "other"
    settings = '[tool.contracts]\ngo_module = "example.com/o"\n'
    write_tree(
        other,
        {
            "pyproject.toml": settings,
            "o/v1/o.proto": 'syntax = "proto3";\npackage o.v1;\nmessage O {}\n',
        },
    )
    kept = run_contracts("init", "--root", str(other), cwd=tmp_path)
    assert kept.code == 0, kept.stderr
    assert "kept:" in kept.stdout
    assert (other / "pyproject.toml").read_text() == settings
    assert yaml.safe_load((other / "buf.yaml").read_text())["modules"] == [{"path": "."}]


def test_init_errors_are_named(tmp_path: Path) -> None:
    write_tree(tmp_path, {"notes.txt": "no protos\n"})
    none = run_contracts("init", "--go-module", GO_MODULE, cwd=tmp_path)
    assert none.code == 2 and "no .proto files" in none.stderr
    write_tree(tmp_path, {"a/v1/a.proto": 'syntax = "proto3";\npackage a.v1;\n'})
    unknown = run_contracts("init", cwd=tmp_path)
    assert unknown.code == 2 and "pass --go-module" in unknown.stderr
    bad = run_contracts("init", "--go-module", "Not A Module", cwd=tmp_path)
    assert bad.code == 2 and "--go-module 'Not A Module'" in bad.stderr
    missing = run_contracts("init", "--go-module", GO_MODULE, "--module", "nope", cwd=tmp_path)
    assert missing.code == 2 and "--module nope: not a directory" in missing.stderr
    assert not (tmp_path / "buf.yaml").exists() and not (tmp_path / "pyproject.toml").exists()


def test_init_reads_the_go_module_from_upstream_import_paths(tmp_path: Path) -> None:
    """A tree whose go_package paths do not mirror its folders (OpenTelemetry's
    `go.opentelemetry.io/proto/otlp/trace/v1` for `opentelemetry/proto/trace/v1`):
    the module is the paths' common prefix, and the Go it generates builds."""
    write_tree(
        tmp_path,
        {
            "upstream/proto/trace/v1/trace.proto": """
                syntax = "proto3";
                package upstream.proto.trace.v1;
                import "upstream/proto/common/v1/common.proto";
                option go_package = "example.org/otlp/trace/v1";
                message Span { upstream.proto.common.v1.Attribute attribute = 1; }
            """,
            "upstream/proto/common/v1/common.proto": """
                syntax = "proto3";
                package upstream.proto.common.v1;
                option go_package = "example.org/otlp/common/v1";
                message Attribute { string key = 1; }
            """,
        },
    )
    init = run_contracts("init", cwd=tmp_path)
    assert init.code == 0, init.stderr
    settings = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["contracts"]
    assert settings["go_module"] == "example.org/otlp"
    gen = run_contracts("gen", "--target", "go", cwd=tmp_path)
    assert gen.code == 0, gen.stderr
    assert run_go(tmp_path / "generated/go", "vet", "./...").returncode == 0
