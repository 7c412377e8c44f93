"""Typed frames through a schema registry: the encoder finds (or registers) the schema id
of a message's subject, the decoder refuses a frame whose id holds another message type
unless the registry says that type is compatible with the consumer's.

Bytes in, bytes out, so any transport carries the frames (Kafka, a task queue, a file, an
HTTP body). Schemas are registered as Confluent's Python serializer registers them (the
base64 FileDescriptorProto of the message's file, each import registered first under a
subject named after its file, well-known types left to the registry), so both get the
same ids from one registry.
"""

from __future__ import annotations

import base64
import enum
from typing import TypeVar, cast

from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from contracts_runtime import frames
from contracts_runtime.lru import LruCache
from contracts_runtime.registry_client import (
    DEFAULT_CACHE_SIZE,
    NotFoundError,
    Reference,
    RegistryClient,
    RegistryError,
    SchemaText,
    SubjectVersion,
)

M = TypeVar("M", bound=Message)

# Imports the registry knows without a reference, as Confluent's serializers skip them.
_BUILTIN_PREFIXES = ("google/protobuf/", "google/type/", "confluent/")


class SubjectStrategy(enum.Enum):
    """How a message's subject is named, as Confluent's strategies name it."""

    TOPIC_NAME = "topic_name"  # "<topic>-value" (or "-key"): one type per topic
    RECORD_NAME = "record_name"  # "<message full name>": one subject per type
    TOPIC_RECORD_NAME = "topic_record_name"  # "<topic>-<message full name>"


class IdChoice(enum.Enum):
    """How the encoder finds a message's schema id."""

    AUTO_REGISTER = "auto_register"  # register the message's file (an existing one keeps its id)
    USE_LATEST = "use_latest"  # the subject's latest version, which must hold the message type
    LOOKUP = "lookup"  # the version holding exactly this file; never registers


def subject_name(
    strategy: SubjectStrategy, topic: str, full_name: str, *, key: bool = False
) -> str:
    if strategy is SubjectStrategy.RECORD_NAME:
        return full_name
    if not topic:
        raise ValueError(f"subject strategy {strategy.value} needs a topic; none was given")
    if strategy is SubjectStrategy.TOPIC_RECORD_NAME:
        return f"{topic}-{full_name}"
    return f"{topic}-{'key' if key else 'value'}"


class RegistryFrames:
    """Encodes messages into frames and decodes frames into the type a consumer expects.

    Failures of the frame are `frames.FrameError`s: `UnknownSchemaIdError` when the
    registry does not know the id, `WrongMessageTypeError` (naming the id, its subjects
    and both types) when the id holds another type that is not compatible with the
    consumer's. A registry that cannot be reached raises `RegistryError`.
    """

    def __init__(
        self,
        client: RegistryClient,
        *,
        strategy: SubjectStrategy = SubjectStrategy.TOPIC_NAME,
        id_choice: IdChoice = IdChoice.AUTO_REGISTER,
        key: bool = False,
        zigzag: bool = True,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.client = client
        self.strategy = strategy
        self.id_choice = id_choice
        self.key = key
        self.zigzag = zigzag
        self._ids: LruCache[tuple[str, str], int] = LruCache(cache_size)

    # Encoding.
    def encode(self, message: Message, topic: str = "") -> bytes:
        descriptor = cast(Descriptor, message.DESCRIPTOR)
        subject = subject_name(self.strategy, topic, descriptor.full_name, key=self.key)
        return frames.encode(
            message.SerializeToString(deterministic=True),
            self.schema_id(descriptor, subject),
            frames.message_indexes(descriptor),
            zigzag=self.zigzag,
        )

    def schema_id(self, descriptor: Descriptor, subject: str) -> int:
        """The id that frames of this message type carry under `subject`."""
        if self.id_choice is IdChoice.USE_LATEST:
            return self._latest_id(descriptor, subject)  # the client caches it for its ttl
        key = (subject, descriptor.file.name)
        schema_id = self._ids.get(key)
        if schema_id is None:
            register = self.id_choice is IdChoice.AUTO_REGISTER
            schema = self.schema_text(descriptor.file, register=register)
            if register:
                schema_id = self.client.register(subject, schema)
            else:
                try:
                    schema_id = self.client.lookup(subject, schema).schema_id
                except NotFoundError as exc:
                    raise RegistryError(
                        f"{descriptor.full_name}: its file {descriptor.file.name} is not "
                        f"registered under subject {subject!r} (auto-registration is off): {exc}",
                        exc.url,
                        exc.status,
                        exc.error_code,
                    ) from None
            self._ids.put(key, schema_id)
        return schema_id

    def _latest_id(self, descriptor: Descriptor, subject: str) -> int:
        latest = self.client.latest(subject)
        indexes = frames.message_indexes(descriptor)
        proto = self.client.file_descriptor(latest.schema_id)
        try:
            there = frames.message_name_in(proto, indexes, latest.schema_id)
        except frames.IndexOutOfRangeError:
            there = f"no message (path {list(indexes)} is out of range)"
        if there != descriptor.full_name:
            raise frames.WrongMessageTypeError(
                f"subject {subject!r}: its latest version {latest.version} (schema id "
                f"{latest.schema_id}) holds {there} where the producer's "
                f"{descriptor.full_name} sits, so frames under it would be misread",
                latest.schema_id,
                expected=descriptor.full_name,
                actual=there,
                subjects=(subject,),
            )
        return latest.schema_id

    def schema_text(self, file: FileDescriptor, *, register: bool) -> SchemaText:
        """A file as the registry takes it, its imports as references (registered first
        when `register`, else their subjects' latest versions)."""
        references = []
        for dependency in file.dependencies:
            if dependency.name.startswith(_BUILTIN_PREFIXES):
                continue
            if register:
                text = self.schema_text(dependency, register=True)
                self.client.register(dependency.name, text)
                version = self.client.lookup(dependency.name, text).version
            else:
                version = self.client.latest(dependency.name).version
            references.append(Reference(dependency.name, dependency.name, version))
        serialized = base64.standard_b64encode(file.serialized_pb).decode("ascii")
        return SchemaText(serialized, tuple(references))

    # Decoding.
    def decode(self, frame: bytes, expected: type[M], topic: str = "") -> M:
        """Reads a frame as `expected`. When the frame's id holds another type, the
        registry judges the consumer's file against the id's version in the subject the
        strategy names for `topic` and `expected`, if the id is registered there, else
        in every subject holding the id, each of which must find it compatible."""
        parts = frames.decode(frame, zigzag=self.zigzag)
        try:
            proto = self.client.file_descriptor(parts.schema_id)
        except NotFoundError as exc:
            raise frames.UnknownSchemaIdError(
                f"schema id {parts.schema_id} is unknown to the registry at "
                f"{self.client.url}: {exc}",
                parts.schema_id,
            ) from None
        actual = frames.message_name_in(proto, parts.indexes, parts.schema_id)
        wanted = expected.DESCRIPTOR.full_name
        if actual != wanted:
            self._require_compatible(parts, actual, cast(Descriptor, expected.DESCRIPTOR), topic)
        message = expected()
        try:
            message.ParseFromString(parts.payload)
        except DecodeError as exc:
            raise frames.PayloadDecodeError(
                f"schema id {parts.schema_id}: payload of {len(parts.payload)} bytes "
                f"does not parse as {wanted}: {exc}",
                parts.schema_id,
            ) from exc
        return message

    def _require_compatible(
        self, parts: frames.Frame, actual: str, expected: Descriptor, topic: str
    ) -> None:
        """Passes when the consumer's type is a new version of the writer's: it sits at the
        same place in its file, and the registry finds the consumer's file compatible with
        the writer's version under the subject's mode."""
        schema_id, wanted = parts.schema_id, expected.full_name
        uses = self.client.uses(schema_id)
        if topic or self.strategy is SubjectStrategy.RECORD_NAME:
            own_subject = subject_name(self.strategy, topic, wanted, key=self.key)
            if own_subject not in {u.subject for u in uses}:
                uses = self.client.uses(schema_id, refresh=True)  # registered there since?
            uses = tuple(u for u in uses if u.subject == own_subject) or uses
        subjects = tuple(u.subject for u in uses)
        head = (
            f"schema id {schema_id} (subject {_versions(uses)}) holds {actual}, "
            f"but the consumer expects {wanted}"
        )
        own = frames.message_indexes(expected)
        if own != parts.indexes:
            raise frames.WrongMessageTypeError(
                f"{head}, which sits elsewhere in its file (path {list(own)}, the frame's "
                f"{list(parts.indexes)}), so it is another message, not a new version of it",
                schema_id,
                expected=wanted,
                actual=actual,
                subjects=subjects,
            )
        schema = self.schema_text(expected.file, register=False)
        reasons = []
        for use in uses:
            verdict = self.client.check_compatibility(use.subject, use.version, schema)
            if verdict.is_compatible:
                continue
            mode = self.client.compatibility_level(use.subject)
            shown = "; ".join(verdict.messages[:3]) or "no differences listed"
            more = len(verdict.messages) - 3
            reasons.append(
                f"{use.subject} is {mode}: {shown}" + (f" (and {more} more)" if more > 0 else "")
            )
        if uses and not reasons:
            return
        raise frames.WrongMessageTypeError(
            f"{head}, and the consumer's file {expected.file.name} is not compatible with "
            f"it under the subject's mode ({' | '.join(reasons) or 'the id has no subject'})",
            schema_id,
            expected=wanted,
            actual=actual,
            subjects=subjects,
        )


def _versions(uses: tuple[SubjectVersion, ...]) -> str:
    return ", ".join(f"{u.subject!r} version {u.version}" for u in uses) or "none"
