"""Heat's exceptions, as Overcast errors: each carries Heat's class name as ``code`` (the
``error.type`` of Heat's fault body), its HTTP status (Heat's ``FaultWrapper.error_map``)
and Heat's message text (``heat/common/exception.py``)."""

from __future__ import annotations

from overcast.errors import OvercastError


class HeatError(OvercastError):
    status = 400
    title = "Bad Request"


class StackValidationFailed(HeatError):
    """``%(error)s%(path)s%(message)s``, as Heat joins them."""

    def __init__(self, message: str, *, error: str = "", path: list[str] | None = None) -> None:
        text = message
        if path:
            text = f"{'.'.join(str(p) for p in path)}: {text}"
        if error:
            text = f"{error}: {text}"
        super().__init__(text, code="StackValidationFailed")


class InvalidTemplateVersion(HeatError):
    def __init__(self, explanation: str) -> None:
        super().__init__(f"The template version is invalid: {explanation}", code="InvalidTemplateVersion")


class InvalidTemplateSection(HeatError):
    def __init__(self, section: str) -> None:
        super().__init__(f"The template section is invalid: {section}", code="InvalidTemplateSection")


class InvalidTemplateReference(HeatError):
    def __init__(self, resource: str, key: str) -> None:
        super().__init__(
            f'The specified reference "{resource}" (in {key}) is incorrect.', code="InvalidTemplateReference"
        )


class InvalidTemplateAttribute(HeatError):
    def __init__(self, resource: str, key: str) -> None:
        super().__init__(f"The Referenced Attribute ({resource} {key}) is incorrect.", code="InvalidTemplateAttribute")


class UserParameterMissing(HeatError):
    def __init__(self, key: str) -> None:
        super().__init__(f"The Parameter ({key}) was not provided.", code="UserParameterMissing")


class UnknownUserParameter(HeatError):
    def __init__(self, key: str) -> None:
        super().__init__(f"The Parameter ({key}) was not defined in template.", code="UnknownUserParameter")


class CircularDependency(HeatError):
    def __init__(self, cycle: str) -> None:
        super().__init__(f"Circular Dependency Found: {cycle}", code="CircularDependencyException")


class EntityNotFound(HeatError):
    status = 404
    title = "Not Found"

    def __init__(self, entity: str, name: str) -> None:
        super().__init__(f"The {entity} ({name}) could not be found.", code="EntityNotFound")


class ResourceTypeNotFound(HeatError):
    """Heat raises it as a StackValidationFailed wrapping EntityNotFound (400)."""

    def __init__(self, type_name: str) -> None:
        super().__init__(f"The Resource Type ({type_name}) could not be found.", code="StackValidationFailed")


class ResourceNotFound(HeatError):
    status = 404
    title = "Not Found"

    def __init__(self, resource_name: str, stack_name: str) -> None:
        super().__init__(
            f"The Resource ({resource_name}) could not be found in Stack {stack_name}.", code="ResourceNotFound"
        )


class StackExists(HeatError):
    status = 409
    title = "Conflict"

    def __init__(self, stack_name: str) -> None:
        super().__init__(f"The Stack ({stack_name}) already exists.", code="StackExists")


class ActionInProgress(HeatError):
    status = 409
    title = "Conflict"

    def __init__(self, stack_name: str, action: str) -> None:
        super().__init__(f"Stack {stack_name} already has an action ({action}) in progress.", code="ActionInProgress")


class NotSupported(HeatError):
    def __init__(self, feature: str) -> None:
        super().__init__(f"{feature} is not supported.", code="NotSupported")


class ResourceFailure(Exception):
    """A resource's action failed: ``str()`` is Heat's reason, e.g.
    ``BadRequest: resources.server: Invalid flavorRef provided.``"""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


class ResourceInError(Exception):
    """A resource went to an error state (``Went to status ERROR due to "..."``)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(f'Went to status {status} due to "{reason}"')
