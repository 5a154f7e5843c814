"""The one error a user's choice can cause inside the model package: a preset, respacing, file or vocabulary
that the models cannot use. Anything else raised here is a bug and keeps its traceback."""

from __future__ import annotations


class GlideInputError(ValueError):
    """A value or file chosen by the user that GLIDE cannot use; the message is one line naming it."""
