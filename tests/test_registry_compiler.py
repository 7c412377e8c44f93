"""The registry's schema compiler: protoc in this process, its outcomes kept in a
bounded LRU keyed by the schema text and its dependencies' content."""

from __future__ import annotations

import threading

import pytest
from google.protobuf import descriptor_pb2

from compat_checks.registry import compiler
from compat_checks.registry.errors import RegistryError

ORDER = 'syntax = "proto3";\npackage shop.v1;\n\nmessage Order {\n  int64 id = 1;\n}\n'
BROKEN = 'syntax = "proto3";\npackage shop.v1;\nmessage M {\n  int32 a = 1\n}\n'
USES_MONEY = (
    'syntax = "proto3";\npackage shop.v1;\nimport "money.proto";\n\n'
    "message Price {\n  Money amount = 1;\n}\n"
)


def money(field_type: int) -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="money.proto", package="shop.v1", syntax="proto3"
    )
    message = file.message_type.add(name="Money")
    message.field.add(name="cents", number=1, type=field_type, label=1, json_name="cents")
    return file


def test_compiles_and_hands_out_independent_copies() -> None:
    compiler.clear_cache()
    root, first = compiler.compile_schema(ORDER, [])
    assert root == compiler.ROOT_NAME
    assert [m.name for m in first.file[-1].message_type] == ["Order"]
    first.file[-1].message_type[0].name = "Changed"
    _, second = compiler.compile_schema(ORDER, [])  # from the cache
    assert second.file[-1].message_type[0].name == "Order"


def test_errors_name_file_line_and_column_every_time() -> None:
    compiler.clear_cache()
    for _ in range(2):  # compiled, then answered from the cache
        with pytest.raises(RegistryError) as caught:
            compiler.compile_schema(BROKEN, [])
        assert caught.value.code == 42201
        assert "schema.proto:5:1" in caught.value.message and "Expected" in caught.value.message


def test_the_key_holds_the_dependencies_content() -> None:
    """One schema text over two different versions of its import: two outcomes."""
    compiler.clear_cache()
    as_int = compiler.compile_schema(
        USES_MONEY, [money(descriptor_pb2.FieldDescriptorProto.TYPE_INT64)]
    )
    as_str = compiler.compile_schema(
        USES_MONEY, [money(descriptor_pb2.FieldDescriptorProto.TYPE_STRING)]
    )
    types = [
        next(f for f in compiled.file if f.name == "money.proto").message_type[0].field[0].type
        for _, compiled in (as_int, as_str)
    ]
    assert types == [
        descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    ]


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    cache = compiler._LRU(2)
    outcome = compiler._Outcome("a.proto", b"")
    cache.put("a", outcome)
    cache.put("b", outcome)
    assert cache.get("a") is outcome  # "b" is now the least recently used
    cache.put("c", outcome)
    assert cache.get("b") is None and cache.get("a") is outcome and cache.get("c") is outcome


def test_threads_compiling_at_once_each_get_their_own_result() -> None:
    compiler.clear_cache()
    results: dict[int, str] = {}

    def work(n: int) -> None:
        text = ORDER.replace("message Order", f"message Order{n}")
        _, compiled = compiler.compile_schema(text, [])
        results[n] = compiled.file[-1].message_type[0].name

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {n: f"Order{n}" for n in range(8)}
