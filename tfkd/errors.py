"""tfkd's own error for bad input, which the command line reports as one line and exit code 2.

``InputError`` is a ``ValueError``, so callers that catch ``ValueError`` keep working.
The command line treats as input errors: ``InputError``, any ``ValueError`` raised by
tfkd's own code (whose messages name the value and what was expected), ``OSError``
(missing or unwritable files) and flag errors; anything else is a bug and keeps its
traceback.
"""


class InputError(ValueError):
    """Bad input: the message names the value and what was expected."""
