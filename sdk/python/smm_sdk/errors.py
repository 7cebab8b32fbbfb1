"""Why a collection failed: the three error kinds of the WIT world.

Raise one of these from ``Measure.collect``; the SDK turns it into the WIT
``error`` variant and the engine stores an error measurement of the kind
shown below. Any other exception escaping ``collect`` is a bug in the
measure: the component traps (error kind ``trap``) with the traceback kept
from stderr, as a panic does in a Rust measure.

=====================  ============  ========================================
exception              WIT variant   engine ``error_kind``
=====================  ============  ========================================
:class:`ConfigError`   ``config``    ``config``
:class:`InputError`    ``input``     ``input``
:class:`InternalError` ``internal``  ``plugin``
=====================  ============  ========================================
"""


class MeasureError(Exception):
    """Base class of the errors a measure reports (not raised itself)."""

    #: The WIT variant's name.
    kind = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = str(message)

    def __str__(self) -> str:
        return self.message


class ConfigError(MeasureError):
    """The configuration does not fit the measure."""

    kind = "config"


class InputError(MeasureError):
    """The input (a report, a repository, an API answer) is missing or
    malformed. Name the file and, when known, where in it."""

    kind = "input"


class InternalError(MeasureError):
    """Anything else the measure knows went wrong."""

    kind = "internal"
