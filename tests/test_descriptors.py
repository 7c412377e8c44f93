"""The one descriptor model: every step reads elements from it, so its answers are
pinned here on a real image (buf-compiled, with source info)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contracts_core.descriptors import Kind, Model
from contracts_core.image import compile_workspace
from contracts_core.workspace import Workspace

MakeWorkspace = Callable[[dict[str, str]], Path]

SHOP = """\
syntax = "proto3";

package shop.v1;

import "google/protobuf/timestamp.proto";

// An order, as the shop keeps it.
message Order {
  // Lines of the order.
  repeated Line lines = 1;
  map<string, int32> stock = 2;
  google.protobuf.Timestamp placed = 3;
  oneof payment {
    string card = 4;
    string voucher = 5;
  }

  // One line.
  message Line {
    string sku = 1;
    Kind kind = 2;
  }

  enum Kind {
    KIND_UNSPECIFIED = 0;
    KIND_GOODS = 1;
  }
}

enum State {
  STATE_UNSPECIFIED = 0;
  STATE_OPEN = 1;
}

// Orders, placed and read.
service OrderService {
  // Place one.
  rpc Place(Order) returns (Order);
}
"""


def model_of(make_workspace: MakeWorkspace) -> Model:
    root = make_workspace({"shop/v1/shop.proto": SHOP})
    return compile_workspace(Workspace.discover(root=root)).model


def test_full_names_resolve_to_their_declarations(make_workspace: MakeWorkspace) -> None:
    model = model_of(make_workspace)
    order = model.resolve(".shop.v1.Order")
    assert order is not None and order.kind is Kind.MESSAGE
    line = model.resolve("shop.v1.Order.Line")
    assert line is not None and line.parent is order
    assert model.resolve("shop.v1.Order.Kind") is not None
    # Imports are in the model too: a field's type resolves wherever it is declared.
    timestamp = model.resolve(".google.protobuf.Timestamp")
    assert timestamp is not None and timestamp.file.name == "google/protobuf/timestamp.proto"
    # Fields and enum values are named, but are not types a field can refer to.
    assert model.resolve("shop.v1.Order.lines") is None
    assert model.by_name["shop.v1.STATE_OPEN"].kind is Kind.ENUM_VALUE
    # Enum values live in the enclosing scope (C++ scoping), not inside the enum.
    assert model.by_name["shop.v1.Order.KIND_GOODS"].parent is model.resolve("shop.v1.Order.Kind")


def test_declared_names_cover_nested_types_and_services(make_workspace: MakeWorkspace) -> None:
    names = model_of(make_workspace).declared_names
    assert {
        "shop.v1.Order",
        "shop.v1.Order.Line",
        "shop.v1.Order.Kind",
        "shop.v1.Order.StockEntry",
        "shop.v1.State",
        "shop.v1.OrderService",
    } <= names
    assert "shop.v1.Order.lines" not in names
    assert "shop.v1.OrderService.Place" not in names


def test_children_in_declaration_order_with_positions_and_docs(
    make_workspace: MakeWorkspace,
) -> None:
    model = model_of(make_workspace)
    order = model.resolve("shop.v1.Order")
    assert order is not None
    fields = list(model.children(order, Kind.FIELD))
    assert [f.name for f in fields] == ["lines", "stock", "placed", "card", "voucher"]
    assert fields[0].location.doc.strip() == "Lines of the order."
    assert (fields[0].location.line, fields[0].location.column) == (10, 3)
    assert [o.name for o in model.children(order, Kind.ONEOF)] == ["payment"]
    assert order.location.doc.strip() == "An order, as the shop keeps it."
    stock = model.resolve("shop.v1.Order.StockEntry")
    assert stock is not None and stock.is_map_entry
    method = model.by_name["shop.v1.OrderService.Place"]
    assert method.kind is Kind.METHOD and method.location.doc.strip() == "Place one."


def test_of_kind_walks_parents_first(make_workspace: MakeWorkspace) -> None:
    model = model_of(make_workspace)
    messages = [e.full_name for e in model.of_kind("shop/v1/shop.proto", Kind.MESSAGE)]
    assert messages == ["shop.v1.Order", "shop.v1.Order.StockEntry", "shop.v1.Order.Line"]
    assert model.file_element("shop/v1/shop.proto").kind is Kind.FILE
