"""Every difference between a writer's schema and a reader's, as Confluent finds them.

The comparison follows Confluent Schema Registry's Protobuf diff (read in
protobuf-provider/.../protobuf/diff/{SchemaDiff,MessageSchemaDiff,
FieldSchemaDiff,EnumSchemaDiff}.java of github.com/confluentinc/schema-registry)
so that its verdicts are ours:

- the root file's types are compared by name, nested ones inside their message;
  a type that moved into an imported file is a removal from the root file;
- fields are compared by number across the whole message, whatever oneof they
  sit in, so that a membership change cannot hide a type change;
- a field whose message type is declared in an import is followed into that
  type unless both sides import the very same file (Confluent: the same
  subject and version); its differences are reported at the type's own path;
- map entries are maps, not messages; the synthetic oneof of a proto3
  `optional` field is no oneof, the field is `optional`.
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts_core.descriptors import Element, Kind

from .differences import Difference
from .differences import DifferenceType as D
from .schema import NUMERIC_GROUPS, FieldShape, MessageShape, Schema, TypeRef


def differences(original: Schema, update: Schema) -> list[Difference]:
    """What changes when `update` reads data written with `original`."""
    return _Differ(original, update).run()


class _Differ:
    def __init__(self, original: Schema, update: Schema) -> None:
        self.o = original
        self.u = update
        self.out: list[Difference] = []
        # Referenced type pairs already compared (their differences, their verdict),
        # and those being compared now: a recursive type is entered once.
        self._named: dict[tuple[Element, Element], tuple[list[Difference], bool]] = {}
        self._entered: set[Element] = set()
        # Referenced pairs whose differences this comparison already lists.
        self._listed: set[tuple[Element, Element]] = set()

    def run(self) -> list[Difference]:
        o_file, u_file = self.o.file, self.u.file
        if o_file.package != u_file.package:
            detail = f"{o_file.package or '(none)'} -> {u_file.package or '(none)'}"
            self.add(D.PACKAGE_CHANGED, [], o_file, u_file, detail)
        self.types(self.o.top_types(self.o.root), self.u.top_types(self.u.root), [], u_file)
        return self.out

    def add(
        self,
        kind: D,
        path: list[str],
        original: Element | None,
        update: Element | None,
        detail: str = "",
    ) -> None:
        self.out.append(Difference(kind, "#/" + "/".join(path), original, update, detail))

    def types(
        self,
        original: Iterable[Element],
        update: Iterable[Element],
        path: list[str],
        u_scope: Element,
    ) -> None:
        o_msgs, o_enums, o_index = _split(original)
        u_msgs, u_enums, u_index = _split(update)
        for name in [*o_msgs, *(n for n in u_msgs if n not in o_msgs)]:
            here = [*path, name]
            o, u = o_msgs.get(name), u_msgs.get(name)
            if u is None:
                self.add(D.MESSAGE_REMOVED, here, o, u_scope)
            elif o is None:
                self.add(D.MESSAGE_ADDED, here, None, u)
            else:
                self.message(o, u, here)
                if o_index[name] != u_index[name]:
                    # Harmless: a frame's message indexes refer to its writer's schema.
                    self.add(D.MESSAGE_MOVED, here, o, u)
        for name in [*o_enums, *(n for n in u_enums if n not in o_enums)]:
            here = [*path, name]
            oe, ue = o_enums.get(name), u_enums.get(name)
            if ue is None:
                self.add(D.ENUM_REMOVED, here, oe, u_scope)
            elif oe is None:
                self.add(D.ENUM_ADDED, here, None, ue)
            else:
                self.enum(oe, ue, here)

    def enum(self, original: Element, update: Element, path: list[str]) -> None:
        o_values = {v.proto.number: v for v in self.o.model.children(original, Kind.ENUM_VALUE)}
        u_values = {v.proto.number: v for v in self.u.model.children(update, Kind.ENUM_VALUE)}
        for number in sorted(o_values.keys() | u_values.keys()):
            here = [*path, str(number)]
            o, u = o_values.get(number), u_values.get(number)
            if u is None:
                self.add(D.ENUM_CONST_REMOVED, here, o, update)
            elif o is None:
                self.add(D.ENUM_CONST_ADDED, here, None, u)
            elif o.name != u.name:
                self.add(D.ENUM_CONST_CHANGED, here, o, u, f"{o.name} -> {u.name}")

    def message(self, original: Element, update: Element, path: list[str]) -> None:
        if original not in self._entered:
            self._entered.add(original)
            try:
                self.members(original, update, path)
            finally:
                self._entered.discard(original)
        self.types(self.o.shape(original).types, self.u.shape(update).types, path, update)

    def members(self, original: Element, update: Element, path: list[str]) -> None:
        o, u = self.o.shape(original), self.u.shape(update)
        self.oneof_merges(o, u, path, original)
        for name in sorted(o.oneofs.keys() | u.oneofs.keys()):
            if name not in u.oneofs:
                self.add(D.ONEOF_REMOVED, [*path, name], o.oneof_elements[name], update)
            elif name not in o.oneofs:
                self.add(D.ONEOF_ADDED, [*path, name], None, u.oneof_elements[name])
        # A oneof gone with every member is a deletion (allowed); one whose members
        # partly survive reports the members that did not.
        gone_whole = {
            name
            for name, numbers in o.oneofs.items()
            if name not in u.oneofs and not any(n in u.fields for n in numbers)
        }
        for number in sorted(o.fields.keys() | u.fields.keys()):
            of, uf = o.fields.get(number), u.fields.get(number)
            if of is not None and uf is not None:
                self.kept_field(of, uf, path, number)
            elif of is not None:
                if of.oneof is None:
                    kind = D.REQUIRED_FIELD_REMOVED if of.label == "required" else D.FIELD_REMOVED
                    self.add(kind, [*path, str(number)], of.element, update)
                elif of.oneof not in gone_whole:
                    here = [*path, of.oneof, str(number)]
                    self.add(D.ONEOF_FIELD_REMOVED, here, of.element, update)
            elif uf is not None:
                if uf.oneof is None:
                    kind = D.REQUIRED_FIELD_ADDED if uf.label == "required" else D.FIELD_ADDED
                    self.add(kind, [*path, str(number)], None, uf.element)
                else:
                    self.add(D.ONEOF_FIELD_ADDED, [*path, uf.oneof, str(number)], None, uf.element)

    def oneof_merges(
        self, o: MessageShape, u: MessageShape, path: list[str], original: Element
    ) -> None:
        """Fields that old data could set together must not share a reader's oneof:
        the reader keeps only the last one. Each writer oneof is one group, each
        writer top-level field its own; fields new to the reader do not count."""
        o_oneof = {n: name for name, numbers in o.oneofs.items() for n in numbers}
        for name, numbers in u.oneofs.items():
            groups: set[str] = set()
            moved_in = 0
            for n in numbers:
                if n in o_oneof:
                    groups.add(f"oneof {o_oneof[n]}")
                elif n in o.fields:
                    groups.add(f"field {n}")
                    moved_in += 1
            if len(groups) > 1:
                kind = (
                    D.MULTIPLE_FIELDS_MOVED_TO_ONEOF
                    if moved_in > 1
                    else D.FIELD_MOVED_TO_EXISTING_ONEOF
                )
                detail = ", ".join(sorted(groups))
                self.add(kind, [*path, name], original, u.oneof_elements[name], detail)

    def kept_field(self, o: FieldShape, u: FieldShape, path: list[str], number: int) -> None:
        """A field on both sides, compared wherever its oneof membership went; its
        differences are reported at its place in the reader."""
        if o.oneof is not None and u.oneof is None:
            here = [*path, str(number)]
            self.add(D.ONEOF_FIELD_MOVED_TO_TOP_LEVEL, here, o.element, u.element)
        self.field(o, u, [*path, str(number)] if u.oneof is None else [*path, u.oneof, str(number)])

    def field(self, o: FieldShape, u: FieldShape, path: list[str]) -> None:
        if o.name != u.name:
            self.add(D.FIELD_NAME_CHANGED, path, o.element, u.element, f"{o.name} -> {u.name}")
        if o.json_name != u.json_name:
            self.add(
                D.FIELD_JSON_NAME_CHANGED,
                path,
                o.element,
                u.element,
                f"{o.json_name} -> {u.json_name}",
            )
        if o.label == u.label and o.type.same(u.type):
            return
        self.typed(o.type, u.type, o.label, u.label, path, o.element, u.element)

    def typed(
        self,
        o: TypeRef,
        u: TypeRef,
        o_label: str | None,
        u_label: str | None,
        path: list[str],
        o_el: Element,
        u_el: Element,
    ) -> None:
        if o.kind != u.kind:
            self.add(D.FIELD_KIND_CHANGED, path, o_el, u_el, f"{_spell(o)} -> {_spell(u)}")
        elif o.kind == "scalar":
            if o.group != u.group:
                self.add(D.FIELD_SCALAR_KIND_CHANGED, path, o_el, u_el, f"{o.name} -> {u.name}")
            elif o_label is not None and u_label is not None and o_label != u_label:
                kind = (
                    D.FIELD_NUMERIC_LABEL_CHANGED
                    if o.group in NUMERIC_GROUPS
                    else D.FIELD_STRING_OR_BYTES_LABEL_CHANGED
                )
                self.add(kind, path, o_el, u_el, f"{o_label} -> {u_label}")
        elif o.kind == "map":
            assert o.key and o.value and u.key and u.value
            self.typed(o.key, u.key, None, None, path, o_el, u_el)
            self.typed(o.value, u.value, None, None, path, o_el, u_el)
        else:
            self.named(o, u, path, o_el, u_el)

    def named(self, o: TypeRef, u: TypeRef, path: list[str], o_el: Element, u_el: Element) -> None:
        if o.declaration is None or u.declaration is None:
            if o.name != u.name:
                self.add(D.FIELD_NAMED_TYPE_CHANGED, path, o_el, u_el, f"{o.name} -> {u.name}")
            return
        o_local, u_local = self.o.local_name(o.declaration), self.u.local_name(u.declaration)
        if o_local != u_local:
            self.add(D.FIELD_NAMED_TYPE_CHANGED, path, o_el, u_el, f"{o.name} -> {u.name}")
            return
        if self._same_source(o.declaration, u.declaration):
            return
        found, compatible = self._referenced(o.declaration, u.declaration, o_local)
        if (o.declaration, u.declaration) not in self._listed:
            self._listed.add((o.declaration, u.declaration))
            self.out.extend(found)
        if not compatible:
            self.add(D.FIELD_NAMED_TYPE_CHANGED, path, o_el, u_el, f"{o.name} changed incompatibly")

    def _same_source(self, o: Element, u: Element) -> bool:
        """Both in the root file (compared there already), or both from one identical import."""
        if self.o.in_root(o) and self.u.in_root(u):
            return True
        if self.o.in_root(o) or self.u.in_root(u):
            return False
        return self.o.file_bytes(o.file.name) == self.u.file_bytes(u.file.name)

    def _referenced(self, o: Element, u: Element, local: str) -> tuple[list[Difference], bool]:
        key = (o, u)
        if key not in self._named:
            if o in self._entered:
                return [], True  # already being compared further up
            sub = _Differ(self.o, self.u)
            sub._entered = set(self._entered)
            sub._named = self._named
            sub.message(o, u, local.split("."))
            self._named[key] = (sub.out, not any(d.type.breaks_wire for d in sub.out))
        return self._named[key]


def _split(
    types: Iterable[Element],
) -> tuple[dict[str, Element], dict[str, Element], dict[str, int]]:
    messages: dict[str, Element] = {}
    enums: dict[str, Element] = {}
    index: dict[str, int] = {}
    for element in types:
        if element.kind is Kind.MESSAGE:
            index[element.name] = len(messages)
            messages[element.name] = element
        else:
            enums[element.name] = element
    return messages, enums, index


def _spell(t: TypeRef) -> str:
    if t.kind == "map":
        assert t.key and t.value
        return f"map<{_spell(t.key)}, {_spell(t.value)}>"
    return t.name
