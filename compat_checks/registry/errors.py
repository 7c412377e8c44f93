"""Confluent Schema Registry's errors: an HTTP status and a finer error code."""

from __future__ import annotations


class RegistryError(Exception):
    """A request the registry refuses; the API answers {"error_code", "message"}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(subject: str, version: object) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found in subject '{subject}'.")


def schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return RegistryError(404, 40403, detail)


def subject_soft_deleted(subject: str) -> RegistryError:
    return RegistryError(404, 40404, f"Subject '{subject}' was soft deleted.")


def version_soft_deleted(subject: str, version: int) -> RegistryError:
    return RegistryError(404, 40406, f"Subject '{subject}' Version {version} was soft deleted.")


def not_soft_deleted_first(subject: str, version: int | None = None) -> RegistryError:
    if version is None:
        return RegistryError(
            404,
            40405,
            f"Subject '{subject}' was not deleted first before being permanently deleted.",
        )
    return RegistryError(
        404,
        40407,
        f"Subject '{subject}' Version {version} was not deleted first before being "
        "permanently deleted.",
    )


def compatibility_not_configured(subject: str) -> RegistryError:
    return RegistryError(
        404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured."
    )


def mode_not_configured(subject: str) -> RegistryError:
    return RegistryError(
        404, 40409, f"Subject '{subject}' does not have subject-level mode configured"
    )


def invalid_schema(message: str) -> RegistryError:
    return RegistryError(422, 42201, f"Invalid schema: {message}")


def invalid_version(text: str) -> RegistryError:
    return RegistryError(
        422,
        42202,
        f"The specified version '{text}' is not a valid version id. Allowed values are "
        'between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility(text: object) -> RegistryError:
    return RegistryError(
        422,
        42203,
        f"Invalid compatibility level {text!r}; use one of NONE, BACKWARD, "
        "BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE",
    )


def invalid_mode(text: object) -> RegistryError:
    return RegistryError(
        422,
        42204,
        f"Invalid mode {text!r}; use one of READWRITE, READONLY, READONLY_OVERRIDE, IMPORT",
    )


def not_permitted(message: str) -> RegistryError:
    return RegistryError(422, 42205, message)


def subject_read_only(subject: str | None) -> RegistryError:
    where = "The registry" if subject is None else f"Subject {subject}"
    return not_permitted(f"{where} is in read-only mode")


def id_does_not_match(registered: int, given: int) -> RegistryError:
    return RegistryError(
        422, 42207, f"Schema already registered with id {registered} instead of input id {given}"
    )


def incompatible(messages: list[str]) -> RegistryError:
    listed = "; ".join(messages)
    return RegistryError(
        409,
        409,
        f"Schema being registered is incompatible with an earlier schema for subject: {listed}",
    )


def bad_request(message: str) -> RegistryError:
    return RegistryError(400, 400, message)


def still_referenced(subject: str, version: int, ids: list[int]) -> RegistryError:
    listed = ", ".join(str(i) for i in ids)
    return RegistryError(
        422,
        42206,
        f"One or more references exist to the schema {{subject={subject}, version={version}}}: "
        f"schema ids {listed}",
    )


def unsupported(setting: str) -> RegistryError:
    return RegistryError(422, 42299, f"{setting} is not supported by this registry")


def read_only(method: str, path: str) -> RegistryError:
    # Confluent answers writes to a READONLY subject or registry with 42205
    # (operation not permitted), HTTP 422.
    return RegistryError(
        422, 42205, f"The registry is in read-only mode: {method} {path} is not permitted"
    )


def unauthorized() -> RegistryError:
    return RegistryError(401, 401, "Unauthorized")


def store_error(detail: str) -> RegistryError:
    return RegistryError(500, 50001, f"Error in the backend data store: {detail}")


def compile_timed_out(seconds: float) -> RegistryError:
    # Confluent's code for an operation past its time limit.
    return RegistryError(
        500, 50002, f"Operation timed out: compiling the schema took over {seconds:g} s"
    )


def compile_failed(detail: str) -> RegistryError:
    return RegistryError(500, 500, f"Internal server error: {detail}")
