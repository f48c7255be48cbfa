"""Exception types for problems a user can fix.

Every message is one sentence that names the file or option, what is wrong and what to do.
The CLI and the ImageJ commands turn these into a short message and an exit status (or an
aborted macro); anything else is a bug and keeps its traceback.
"""


class N2VError(Exception):
    """Base class: a problem with the user's input, model, output or installation."""


class InputError(N2VError, ValueError):
    """An input image or option is unusable (missing, not a TIFF, wrong axes, ...).

    Also a ``ValueError``, so API users catch a bad value as Python code usually does.
    """


class AxesError(InputError):
    """An axes string is invalid or does not match an image's shape."""


class NothingToDenoise(InputError):
    """Every chosen plane is zero: raised after the last plane, so a caller that denoised only
    part of a stack (a unit of work on a cluster) can tell it from a broken input."""

    @classmethod
    def in_stack(cls, source: object) -> "NothingToDenoise":
        """The sentence for a stack whose chosen frames and channels are all zero (planes and volumes alike)."""
        return cls(f"{source} is zero everywhere in the chosen frames and channels: there is nothing "
                   f"to denoise; check the file or the --frames/--channels choice.")


class ModelError(N2VError):
    """A model folder or archive is missing, incomplete, corrupt or unsuitable."""


class OutOfMemory(N2VError):
    """The network ran out of memory on a plane or tile: the message names ``--tile-size`` and the memory seen."""


class OutputError(N2VError):
    """An output cannot be written: it exists already, or the folder is not writable or full."""


class TrainingError(N2VError):
    """Training failed on its own terms: the loss became NaN before any epoch gave a model to keep."""


class DependencyError(N2VError):
    """The installed TensorFlow/n2v stack is not the tested one, or Java/ImageJ is missing."""


class ClusterError(N2VError):
    """The Dask cluster cannot be reached, was lost, or has workers unlike this installation.

    Every file would hit it, so it stops the whole run rather than skipping one file.
    """


class Interrupted(KeyboardInterrupt):
    """Work stopped at the user's request (Ctrl-C, SIGTERM, Cancel); the message says what was kept.

    A ``KeyboardInterrupt``, so code that already stops on Ctrl-C stops on it too; not an
    ``N2VError``, because nothing is wrong with the input.
    """
