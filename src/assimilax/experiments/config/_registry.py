"""The registry of section kinds: which class a ``[model] name``, ``[observations]
operator``, ``[method] name`` or ``[hybrid] name`` selects.

A section class registers under its kind and name::

    @register("method", "etkf")
    class ETKFConfig(EnsembleMethodSection):
        ...

and everything that lists the kinds reads them from here: the tagged unions of
:class:`~assimilax.experiments.config.Config`, the allowed names in error messages and
their "did you mean" suggestions, the cross-checks between sections, and the generated
configuration reference. The class writes its name once, in ``@register``: the
decorator adds the tag key (``name: Literal["etkf"] = "etkf"``; ``operator`` for
observations).

Registration happens when a section module is imported; the package
``assimilax.experiments.config`` imports every section module, then assembles
``Config`` from what is registered and closes the registry (:func:`close`). A
registration after that raises: a new section module must be imported by
``config/__init__.py`` (one line), before ``Config`` is assembled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import Field, create_model

from ._base import Section

KINDS: dict[str, str] = {
    "model": "name",
    "observations": "operator",
    "method": "name",
    "hybrid": "name",
}
"""The kinds of tagged sections and their tag key (``[truth]`` takes the model kinds)."""

_REGISTRY: dict[str, dict[str, type[Section]]] = {kind: {} for kind in KINDS}
_closed = False

S = TypeVar("S", bound=type[Section])


def register(kind: str, name: str) -> Callable[[S], S]:
    """Class decorator: register a section class as ``kind`` ``name``.

    The class declares its tag key (``tag``, a class variable of its kind's base, e.g.
    ``"name"``) as a plain ``str`` field at most: the decorator returns a subclass of the
    same name whose tag field is ``Literal[name]`` with default ``name``, which is what
    the tagged union of ``Config`` selects on.

    Args:
        kind: one of :data:`KINDS` (``"model"``, ``"observations"``, ``"method"``,
            ``"hybrid"``).
        name: the value of the tag key in TOML, e.g. ``"etkf"`` for ``[method] name =
            "etkf"``.

    Returns:
        The decorator.

    Raises:
        ValueError: an unknown kind, or a name registered twice.
        TypeError: the class has no ``tag`` of its kind, or declares its own tag literal.
        RuntimeError: ``Config`` is already assembled (see the module docstring).
    """
    if kind not in KINDS:
        raise ValueError(f"register: unknown kind {kind!r}; kinds: {', '.join(KINDS)}.")

    def decorate(cls: S) -> S:
        if _closed:
            raise RuntimeError(
                f"register({kind!r}, {name!r}): Config is already assembled; import the "
                f"module of {cls.__name__} from assimilax/experiments/config/__init__.py."
            )
        tag = KINDS[kind]
        if getattr(cls, "tag", None) != tag:
            raise TypeError(f"register({kind!r}, {name!r}): {cls.__name__} must derive from "
                            f"the base of its kind (tag = {tag!r}).")
        if tag in cls.__dict__.get("__annotations__", {}):
            raise TypeError(f"register({kind!r}, {name!r}): {cls.__name__} declares its own "
                            f"{tag!r}; the name is given once, in @register.")
        if name in _REGISTRY[kind]:
            other = _REGISTRY[kind][name]
            raise ValueError(f"register: {kind} {name!r} is already registered "
                             f"({other.__module__}.{other.__qualname__}).")
        inherited = cls.model_fields.get(tag)
        description = inherited.description if inherited is not None else None
        tagged = create_model(
            cls.__name__,
            __base__=cls,
            __module__=cls.__module__,
            __doc__=cls.__doc__,
            **{tag: (Literal[name], Field(name, description=description))},
        )
        tagged.__qualname__ = cls.__qualname__
        _REGISTRY[kind][name] = tagged
        return tagged

    return decorate


def registered(kind: str) -> Mapping[str, type[Section]]:
    """The section classes of ``kind`` by name, in the order they were registered.

    Args:
        kind: one of :data:`KINDS`.

    Returns:
        A read-only mapping ``{name: class}``.

    Raises:
        KeyError: an unknown kind.
    """
    return MappingProxyType(_REGISTRY[kind])


def kind_of(cls: type) -> str | None:
    """The kind ``cls`` is registered under, or ``None``."""
    for kind, classes in _REGISTRY.items():
        if cls in classes.values():
            return kind
    return None


def union(kind: str) -> Any:
    """The tagged union of every class of ``kind``: the type of its ``Config`` field.

    Raises:
        LookupError: nothing is registered under ``kind``.
    """
    classes = tuple(_REGISTRY[kind].values())
    if not classes:
        raise LookupError(f"union: no section registered as {kind!r}.")
    return Annotated[Union[classes], Field(discriminator=KINDS[kind])]  # noqa: UP007


def close() -> None:
    """End registration: ``Config`` is assembled from what is registered now."""
    global _closed
    _closed = True
