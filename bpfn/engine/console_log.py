"""Keep the runner's long dumps in the log file, off the console."""
import logging
from typing import Iterable, Tuple

#: Starts of the runner's messages that go to the log file only: MMEngine's
#: environment dump, its config dump and its table of hooks.
FILE_ONLY_PREFIXES: Tuple[str, ...] = (
    '\n' + '-' * 60 + '\nSystem environment:',
    'Config:\n',
    'Hooks will be executed in the following order',
)


class FileOnlyFilter(logging.Filter):
    """Drop, on a console handler, the messages that start with a prefix.

    The log file still receives them. :meth:`hide` adds a prefix while the
    runner works (``tools/test.py`` hides the metric's table, which it
    prints itself once the test ends).

    Args:
        prefixes (Iterable[str]): Message starts to drop. Defaults to
            :data:`FILE_ONLY_PREFIXES`.
    """

    def __init__(self, prefixes: Iterable[str] = FILE_ONLY_PREFIXES) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def hide(self, prefix: str) -> None:
        """Also keep messages starting with ``prefix`` off the console."""
        if prefix not in self.prefixes:
            self.prefixes += (prefix, )

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for a message that starts with a prefix."""
        message = record.getMessage() if record.args else str(record.msg)
        return not message.startswith(self.prefixes)


def console_handlers(logger: logging.Logger) -> list:
    """The handlers of ``logger`` that write to a stream, not to a file."""
    return [h for h in logger.handlers
            if isinstance(h, logging.StreamHandler)
            and not isinstance(h, logging.FileHandler)]


def file_only_filter(logger: logging.Logger) -> FileOnlyFilter:
    """The :class:`FileOnlyFilter` of ``logger``'s console, added once.

    Args:
        logger (logging.Logger): The runner's logger (an ``MMLogger``).

    Returns:
        FileOnlyFilter: The filter on every console handler of the logger.
    """
    handlers = console_handlers(logger)
    for handler in handlers:
        for existing in handler.filters:
            if isinstance(existing, FileOnlyFilter):
                found = existing
                break
        else:
            continue
        break
    else:
        found = FileOnlyFilter()
    for handler in handlers:
        if found not in handler.filters:
            handler.addFilter(found)
    return found
